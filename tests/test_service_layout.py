"""The service is an optional layer: nothing else imports it, its migrations create every table it
declares, and the OpenAPI document describes every route."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

from service_support import OPERATOR
from sqlalchemy import inspect

from lec_opt.scenario import load_scenario
from lec_opt.service.aggregator import Aggregator
from lec_opt.service.app import create_app
from lec_opt.service.community import Community
from lec_opt.service.db import Base, make_engine
from lec_opt.service.migrate import MIGRATIONS, upgrade

warnings.filterwarnings("ignore", message=".*httpx2.*")

PACKAGE = Path(__file__).resolve().parents[1] / "lec_opt"
ALLOWED = {PACKAGE / "cli" / "serve.py"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_nothing_outside_the_service_imports_it():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "service") in path.parents or path in ALLOWED:
            continue
        bad = {n for n in _imports(path) if n.startswith("lec_opt.service") or n in ("fastapi", "sqlalchemy")}
        if bad:
            offenders.append((path.relative_to(PACKAGE), bad))
    assert not offenders
    serve = (PACKAGE / "cli" / "serve.py").read_text(encoding="utf-8")
    top = [line for line in serve.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in top if "service" in line or "fastapi" in line]  # imported lazily


def test_the_migrations_create_every_table(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    upgrade(engine)  # a second start changes nothing
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) | {"alembic_version"} == tables
    for name, table in Base.metadata.tables.items():
        assert {c.name for c in table.columns} == {c["name"] for c in inspect(engine).get_columns(name)}, name
    assert sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py")) == ["0001_initial.py"]
    engine.dispose()


def test_openapi_documents_every_route():
    app = create_app(Aggregator(Community(load_scenario(), "greedy"), "sqlite://", OPERATOR))
    paths = app.openapi()["paths"]
    routes = {r.path for r in app.routes if getattr(r, "include_in_schema", False)}
    assert routes == set(paths) and len(routes) >= 11
    for path, methods in paths.items():
        for method, spec in methods.items():
            assert spec.get("summary"), (method, path)
