"""The first migration: every table of the service (lec_opt.service.db).

Revision ID: 0001_initial
Revises: none
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision: every table, parents first."""
    _create_audit_log()
    _create_cleared_intervals()
    _create_meta()
    _create_peers()
    _create_ces_state()
    _create_priority_summaries()
    _create_readings()
    _create_settlements()
    _create_trades()


def _create_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def _create_cleared_intervals() -> None:
    op.create_table(
        "cleared_intervals",
        sa.Column("interval", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("time", sa.String(length=5), nullable=False),
        sa.Column("chosen", sa.String(length=1), nullable=False),
        sa.Column("p2p_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("ces_charge_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("ces_discharge_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("grid_to_ces_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("ces_to_ev_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("soc_start", sa.Float(precision=53), nullable=False),
        sa.Column("soc_end", sa.Float(precision=53), nullable=False),
        sa.Column("grid_import_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("grid_export_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("filled_peers", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(precision=53), nullable=False),
        sa.Column("step", sa.LargeBinary(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("interval"),
    )


def _create_meta() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def _create_peers() -> None:
    op.create_table(
        "peers",
        sa.Column("peer", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("peer"),
    )
    with op.batch_alter_table("peers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_peers_token_sha256"), ["token_sha256"], unique=True)


def _create_ces_state() -> None:
    op.create_table(
        "ces_state",
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("path", sa.Enum("BEST", "A", "B", "C", name="pathname", native_enum=False, length=8), nullable=False),
        sa.Column("soc_start", sa.Float(precision=53), nullable=False),
        sa.Column("soc_end", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["interval"],
            ["cleared_intervals.interval"],
        ),
        sa.PrimaryKeyConstraint("interval", "path"),
    )


def _create_priority_summaries() -> None:
    op.create_table(
        "priority_summaries",
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=1), nullable=False),
        sa.Column("p2p_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(precision=53), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interval"],
            ["cleared_intervals.interval"],
        ),
        sa.PrimaryKeyConstraint("interval", "priority"),
    )


def _create_readings() -> None:
    op.create_table(
        "readings",
        sa.Column("interval", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("peer", sa.Integer(), nullable=False),
        sa.Column("load_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("pv_kwh", sa.Float(precision=53), nullable=False),
        sa.Column(
            "source",
            sa.Enum("PEER", "OPERATOR", "FILLED", name="readingsource", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer"],
            ["peers.peer"],
        ),
        sa.PrimaryKeyConstraint("interval", "peer"),
    )


def _create_settlements() -> None:
    op.create_table(
        "settlements",
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("peer", sa.Integer(), nullable=False),
        sa.Column("is_seller", sa.Boolean(), nullable=False),
        sa.Column("is_buyer", sa.Boolean(), nullable=False),
        sa.Column("sold_p2p_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("bought_p2p_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("to_ces_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("from_ces_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("export_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("import_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("revenue_usd", sa.Float(precision=53), nullable=False),
        sa.Column("revenue_grid_only_usd", sa.Float(precision=53), nullable=False),
        sa.Column("bill_usd", sa.Float(precision=53), nullable=False),
        sa.Column("bill_grid_only_usd", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["interval"],
            ["cleared_intervals.interval"],
        ),
        sa.ForeignKeyConstraint(
            ["peer"],
            ["peers.peer"],
        ),
        sa.PrimaryKeyConstraint("interval", "peer"),
    )


def _create_trades() -> None:
    op.create_table(
        "trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=1), nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.Column("seller", sa.Integer(), nullable=False),
        sa.Column("buyer", sa.Integer(), nullable=False),
        sa.Column("kwh", sa.Float(precision=53), nullable=False),
        sa.Column("price_usd_per_kwh", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["interval"],
            ["cleared_intervals.interval"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trades_buyer"), ["buyer"], unique=False)
        batch_op.create_index(batch_op.f("ix_trades_interval"), ["interval"], unique=False)
        batch_op.create_index(batch_op.f("ix_trades_seller"), ["seller"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trades_seller"))
        batch_op.drop_index(batch_op.f("ix_trades_interval"))
        batch_op.drop_index(batch_op.f("ix_trades_buyer"))

    op.drop_table("trades")
    op.drop_table("settlements")
    op.drop_table("readings")
    op.drop_table("priority_summaries")
    op.drop_table("ces_state")
    with op.batch_alter_table("peers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_peers_token_sha256"))

    op.drop_table("peers")
    op.drop_table("meta")
    op.drop_table("cleared_intervals")
    op.drop_table("audit_log")
