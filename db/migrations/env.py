"""Alembic environment: raw-SQL migrations over one psycopg connection, version table in iam."""

from __future__ import annotations

import os

import psycopg
from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool


def database_url() -> str:
    url = (
        context.config.attributes.get("database_url")
        or os.environ.get("MIGRATIONS_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
    )
    if not url:
        raise SystemExit("MIGRATIONS_DATABASE_URL or DATABASE_URL must name the database to migrate")
    return str(url)


def run_migrations_online() -> None:
    url = database_url()
    # psycopg parses every libpq URL form (sockets included); SQLAlchemy only wraps it.
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=NullPool)
    with engine.connect() as connection:
        # The version table lives in iam with everything else, so the schema comes first.
        connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS iam")
        context.configure(connection=connection, version_table_schema="iam", transactional_ddl=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported: migrations are plain .sql files already")
run_migrations_online()
