"""The field mode: photos of cases and the idempotency keys of requests.

Revision ID: 0003
Revises: 0002
"""

from gridmap.migrations import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(__file__)
