"""Alembic's environment for the service: run programmatically by ``lec_opt.service.migrate``."""

from __future__ import annotations

from alembic import context

from lec_opt.service.db import Base, make_engine

config = context.config


def run_migrations() -> None:
    """Online migrations on the connection the caller passes, or on the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
