"""One address, one account: existing addresses rewritten to their normalized spelling (NFKC,
lower case, IDNA A-label domain), then constraints that refuse any other spelling. Accounts
whose addresses collide once normalized are reported, never merged: the migration stops and
names them.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

from api.text import normalize_email
from db.migrations.sql_files import run_down, run_up

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


class AddressCollision(RuntimeError):
    """Existing accounts that are one address once normalized."""


def upgrade() -> None:
    connection = op.get_bind().connection.driver_connection
    assert connection is not None
    users = connection.execute("SELECT id, email FROM iam.users ORDER BY created_at, id").fetchall()
    by_address: dict[str, list[tuple[object, str]]] = {}
    for user_id, email in users:
        by_address.setdefault(normalize_email(email), []).append((user_id, email))
    collisions = {address: rows for address, rows in by_address.items() if len(rows) > 1}
    if collisions:
        listed = "; ".join(
            f"{address}: " + ", ".join(f"{email} ({user_id})" for user_id, email in rows)
            for address, rows in sorted(collisions.items())
        )
        raise AddressCollision(
            "these accounts are one address once normalized (fullwidth or IDNA spellings); merge or "
            f"change all but one by hand, then migrate again: {listed}"
        )
    for address, [(user_id, email)] in by_address.items():
        if address != email:
            connection.execute("UPDATE iam.users SET email = %s WHERE id = %s", [address, user_id])
    # Pending invitations that collide: the newest stands, as a new invitation supersedes.
    invitations = connection.execute(
        "SELECT organization_id, id, email, accepted_at IS NULL AND revoked_at IS NULL"
        " FROM iam.invitations ORDER BY created_at DESC, id"
    ).fetchall()
    pending: set[tuple[object, str]] = set()
    for organization_id, invitation_id, email, is_pending in invitations:
        address = normalize_email(email)
        if is_pending and (organization_id, address) in pending:
            connection.execute(
                "UPDATE iam.invitations SET revoked_at = now() WHERE organization_id = %s AND id = %s",
                [organization_id, invitation_id],
            )
        elif is_pending:
            pending.add((organization_id, address))
        if address != email:
            connection.execute(
                "UPDATE iam.invitations SET email = %s WHERE organization_id = %s AND id = %s",
                [address, organization_id, invitation_id],
            )
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
