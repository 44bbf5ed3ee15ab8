"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from db.migrations.sql_files import run_down, run_up

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
