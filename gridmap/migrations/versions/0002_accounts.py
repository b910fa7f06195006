"""Accounts, wall tokens, settings and the audit log; the incidents' reporter columns.

Revision ID: 0002
Revises: 0001
"""

from gridmap.migrations import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file(__file__)
