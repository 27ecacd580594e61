"""`minqing import …`: work orders from other systems (being built for issue 5)."""
from __future__ import annotations

import click


@click.group("import")
def import_group() -> None:
    """Import work orders from other systems (the 12345 hotline)."""
