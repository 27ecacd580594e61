"""`minqing import …`: work orders from other systems, so every channel's cases share one loop."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from sqlalchemy.exc import SQLAlchemyError

from data.errors import LedgerError

EXIT_REJECTED = 1  # some rows rejected (the others imported)
EXIT_REFUSED = 2  # the file itself refused (unreadable, a required column missing) or the import failed


@click.group("import")
def import_group() -> None:
    """Import work orders from other systems (the 12345 hotline)."""


@import_group.command("hotline")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crs", default="wgs84", show_default=True,
              help="CRS of rows without a 坐标系/crs cell: wgs84, gcj02 (AMap/Tencent), bd09 (Baidu) or an EPSG code.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Where rejected rows go, with their row number and reason (default: FILE.rejects.csv).")
@click.option("--dry-run", is_flag=True, help="Check every row (mapping, locating, duplicates) and write nothing "
                                              "to the database; the rejects file is still written.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True,
              help="Rows per transaction: a crash loses at most one batch; running again is safe.")
@click.option("--no-progress", is_flag=True, help="No progress bar (for logs and CI).")
def hotline(file: Path, crs: str, rejects: Path | None, dry_run: bool, batch_size: int, no_progress: bool) -> None:
    """Import 12345 hotline work orders from FILE (CSV or JSON) as events.

    CSV may be UTF-8 (with or without BOM) or GB18030; JSON is an array of objects or {"orders": [...]}.
    Column names are matched case-insensitively, Chinese or English:

    \b
      工单编号 | external_id: required; an id imported before is skipped
      来电时间 | 受理时间 | time: required; without a UTC offset it is Beijing time
      诉求类别 | 问题分类 | category: required; mapped by the table hotline_category_map
      诉求内容 | 内容 | content: required
      经度 + 纬度 | lon + lat: where it happened (0, 0 counts as none), or else
      事发地址 | 地址 | address: matched to a house or compound of the ledger
      坐标系 | crs: wgs84, gcj02 (also 高德/腾讯), bd09 (also 百度) or an EPSG code; blank: --crs
      标题 | title, 来电人 | caller, 联系电话 | phone: optional (the phone is never shown to grid staff)

    Category: an exact category code or name, else the longest keyword of the table
    hotline_category_map found in the text. Location: the coordinates when given, else the longest house
    address the address contains, else the longest compound name it contains.

    Rows that cannot be imported are skipped and written to the rejects file with their reason.
    Exit status: 0 every row imported or already imported; 1 some rows rejected (the rest imported);
    2 the file was refused or the import failed (batches committed before stay; running again is safe).
    """
    from data.loaders.hotline import import_file
    from mapserver.cli import _engine  # imported here: mapserver.cli imports this module

    try:
        report = import_file(_engine(), file, crs=crs, rejects_path=rejects, dry_run=dry_run,
                             batch_size=batch_size, progress=not no_progress)
    except (LedgerError, SQLAlchemyError) as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_REFUSED)
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {report.created:,} of {report.rows_read:,} work orders; "
               f"{report.already_imported:,} already imported, {len(report.rejects):,} rejected")
    if report.outside_grid:
        click.secho(f"warning: {report.outside_grid:,} lie outside every grid and need manual placement", fg="yellow")
    if report.possible_duplicates:
        click.echo(f"{report.possible_duplicates:,} flagged as possible duplicates of open events")
    if report.rejects:
        for row, reason in report.rejects[:5]:
            click.echo(f"  row {row}: {reason}")
        if len(report.rejects) > 5:
            click.echo(f"  … and {len(report.rejects) - 5:,} more")
        click.echo(f"rejected rows written to {report.rejects_path}")
        sys.exit(EXIT_REJECTED)
