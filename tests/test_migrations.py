"""Migrations: the models and Alembic agree, and the schema goes down and up again."""

from __future__ import annotations

import sqlalchemy as sa

from service.migrate import check, upgrade
from service.models import Base


def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    check(database_url)  # raises if autogenerate would emit anything


def test_downgrade_to_base_and_back_up(database_url: str) -> None:
    upgrade(database_url, "head")
    from alembic import command

    from service.migrate import alembic_config

    command.downgrade(alembic_config(database_url), "base")
    engine = sa.create_engine(database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(database_url)
    engine = sa.create_engine(database_url)
    try:
        assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    check(database_url)
