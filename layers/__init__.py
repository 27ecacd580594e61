"""The layer catalogue: what can be drawn, at which zooms, for whom, and how (issue 3 fills it)."""
