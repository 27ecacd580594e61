"""Loading files into the ledger: `load_file(engine, kind, path, ...)` for every kind in `KINDS`."""
from data.loaders.kinds import KINDS, Kind
from data.loaders.load import LoadReport, default_rejects_path, load_file

__all__ = ["KINDS", "Kind", "LoadReport", "default_rejects_path", "load_file"]
