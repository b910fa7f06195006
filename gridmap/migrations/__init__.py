"""Alembic migrations of the PostGIS schema.

Each version is a Python file naming its revision and a ``.sql`` file beside
it with the DDL (SQL lives in .sql files, readable and diffable as such).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_sql_file"]


def run_sql_file(version_file: str) -> None:
    """Execute the ``.sql`` file that sits beside a migration's ``.py`` file."""
    from alembic import op

    sql = Path(version_file).with_suffix(".sql").read_text(encoding="utf-8")
    op.get_bind().exec_driver_sql(sql)
