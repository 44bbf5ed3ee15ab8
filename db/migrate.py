"""Applies or rolls back migrations: `python -m db.migrate up|down`, on
MIGRATIONS_DATABASE_URL, else DATABASE_URL, else the embedded server."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from db.embedded import migrations_url

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    command.downgrade(alembic_config(url), revision)


def main(argv: list[str]) -> int:
    actions = {"up": upgrade, "down": downgrade}
    if len(argv) != 1 or argv[0] not in actions:
        print("usage: python -m db.migrate up|down", file=sys.stderr)
        return 2
    with migrations_url() as url:
        actions[argv[0]](url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
