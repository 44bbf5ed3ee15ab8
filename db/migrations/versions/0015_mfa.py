"""Multi-factor sign-in: TOTP factors (encrypted) and recovery codes (hashed), sessions with
an assurance level, organizations that require a second factor, and step-up.

Revision ID: 0015
Revises: 0014
"""

from db.migrations.sql_files import run_down, run_up

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
