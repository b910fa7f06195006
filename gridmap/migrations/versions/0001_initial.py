"""The foundation's schema: hierarchy, facilities, party organisations, roads, incidents.

Revision ID: 0001
Revises:
"""

from gridmap.migrations import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(__file__)
