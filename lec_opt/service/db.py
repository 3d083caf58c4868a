"""The service's tables (SQLAlchemy 2 declarative models) and the engine: the schema Alembic migrates.

Every table is created by the first migration (``migrations/versions/0001_initial.py``); a change to
a model here is a new migration there. Money in $, energy in kWh, as in every lec-opt table.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DEFAULT_DB = "sqlite:///lec-opt-service.db"  # under the folder the service starts in


class ReadingSource(enum.Enum):
    """Who a reading came from: the peer's meter, the operator in bulk, or the fill rule at a deadline."""

    PEER = "peer"
    OPERATOR = "operator"
    FILLED = "filled"  # persistence: the peer's previous reading (0 before the first)


class PathName(enum.Enum):
    """A SoC path the service carries: the aggregator's choice, or one priority followed all day."""

    BEST = "best"
    A = "A"
    B = "B"
    C = "C"


def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The declarative base of every service table."""


class Meta(Base):
    """Key-value facts of the running community (scenario name and hash, method, interval minutes)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Peer(Base):
    """A peer of the community (its number on the ring or feeder) and its token's sha256, if issued."""

    __tablename__ = "peers"
    peer: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)


class Reading(Base):
    """One peer's metered energy in one interval, kWh."""

    __tablename__ = "readings"
    interval: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    peer: Mapped[int] = mapped_column(ForeignKey("peers.peer"), primary_key=True)
    load_kwh: Mapped[float] = mapped_column(Float(53))
    pv_kwh: Mapped[float] = mapped_column(Float(53))
    source: Mapped[ReadingSource] = mapped_column(Enum(ReadingSource, native_enum=False, length=16))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class ClearedInterval(Base):
    """An interval cleared: the aggregator's choice and its CES, grid and P2P energy; ``step`` holds
    the interval's whole record (every priority's result and settlement) for the results folder."""

    __tablename__ = "cleared_intervals"
    interval: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(String(5))
    chosen: Mapped[str] = mapped_column(String(1))
    p2p_kwh: Mapped[float] = mapped_column(Float(53))
    ces_charge_kwh: Mapped[float] = mapped_column(Float(53))
    ces_discharge_kwh: Mapped[float] = mapped_column(Float(53))
    grid_to_ces_kwh: Mapped[float] = mapped_column(Float(53))
    ces_to_ev_kwh: Mapped[float] = mapped_column(Float(53))
    soc_start: Mapped[float] = mapped_column(Float(53))
    soc_end: Mapped[float] = mapped_column(Float(53))
    grid_import_kwh: Mapped[float] = mapped_column(Float(53))
    grid_export_kwh: Mapped[float] = mapped_column(Float(53))
    filled_peers: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float(53))
    step: Mapped[bytes] = mapped_column(LargeBinary)
    cleared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class PrioritySummary(Base):
    """Each priority solved in a cleared interval: its P2P energy, trades, score and level status."""

    __tablename__ = "priority_summaries"
    interval: Mapped[int] = mapped_column(ForeignKey("cleared_intervals.interval"), primary_key=True)
    priority: Mapped[str] = mapped_column(String(1), primary_key=True)
    p2p_kwh: Mapped[float] = mapped_column(Float(53))
    transactions: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float(53))
    status: Mapped[str] = mapped_column(Text)
    fallback: Mapped[bool] = mapped_column(Boolean)


class TradeRow(Base):
    """A trade of a priority in a cleared interval (``chosen``: the aggregator's priority's)."""

    __tablename__ = "trades"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interval: Mapped[int] = mapped_column(ForeignKey("cleared_intervals.interval"), index=True)
    priority: Mapped[str] = mapped_column(String(1))
    chosen: Mapped[bool] = mapped_column(Boolean)
    seller: Mapped[int] = mapped_column(Integer, index=True)
    buyer: Mapped[int] = mapped_column(Integer, index=True)
    kwh: Mapped[float] = mapped_column(Float(53))
    price_usd_per_kwh: Mapped[float] = mapped_column(Float(53))


class CesState(Base):
    """The CES's SoC on each path after each cleared interval: the state the next interval starts from."""

    __tablename__ = "ces_state"
    interval: Mapped[int] = mapped_column(ForeignKey("cleared_intervals.interval"), primary_key=True)
    path: Mapped[PathName] = mapped_column(Enum(PathName, native_enum=False, length=8), primary_key=True)
    soc_start: Mapped[float] = mapped_column(Float(53))
    soc_end: Mapped[float] = mapped_column(Float(53))


class SettlementRow(Base):
    """One peer's energy and money in one cleared interval (the aggregator's chosen priority)."""

    __tablename__ = "settlements"
    interval: Mapped[int] = mapped_column(ForeignKey("cleared_intervals.interval"), primary_key=True)
    peer: Mapped[int] = mapped_column(ForeignKey("peers.peer"), primary_key=True)
    is_seller: Mapped[bool] = mapped_column(Boolean)
    is_buyer: Mapped[bool] = mapped_column(Boolean)
    sold_p2p_kwh: Mapped[float] = mapped_column(Float(53))
    bought_p2p_kwh: Mapped[float] = mapped_column(Float(53))
    to_ces_kwh: Mapped[float] = mapped_column(Float(53))
    from_ces_kwh: Mapped[float] = mapped_column(Float(53))
    export_kwh: Mapped[float] = mapped_column(Float(53))
    import_kwh: Mapped[float] = mapped_column(Float(53))
    revenue_usd: Mapped[float] = mapped_column(Float(53))
    revenue_grid_only_usd: Mapped[float] = mapped_column(Float(53))
    bill_usd: Mapped[float] = mapped_column(Float(53))
    bill_grid_only_usd: Mapped[float] = mapped_column(Float(53))


class Audit(Base):
    """Who sent what and when: every stored post (its readings and what became of them), clearing, correction and token."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode (one file, shared by the request threads) or PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)
