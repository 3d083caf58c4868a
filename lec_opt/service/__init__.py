"""The aggregator as a running service: meter readings in, the market cleared every interval, statements out.

An optional extra (``pip install ".[serve]"``): FastAPI + uvicorn, SQLAlchemy 2 with Alembic migrations
(SQLite by default, PostgreSQL for a deployment). Nothing outside this package and ``lec_opt.cli.serve``
imports it. ``docs/guides/service.md`` is the operator's guide.
"""
