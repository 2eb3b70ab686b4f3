"""Capacity tracking: bed holds, API keys with roles, idempotent writes, change notifications.

- ``station_capacity.held``: places reserved by holds; ``occupied + held <= maximum``.
- ``holds``: a reserved place (a bed) that expires unless confirmed as a check-in.
- ``api_keys`` (only a hash of the secret is stored) and ``api_key_stations`` (a keeper's
  stations).
- ``idempotency_keys``: the answer to each write, so that a retried request is applied once
  and answered the same way.
- A trigger on ``occupancy_events`` notifies channel ``capacity`` with the new figures, feeding
  the live stream without polling.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "station_capacity", sa.Column("held", sa.Integer, nullable=False, server_default="0")
    )
    op.drop_constraint("occupied_in_range", "station_capacity", type_="check")
    op.create_check_constraint(
        "occupied_in_range",
        "station_capacity",
        "occupied >= 0 AND held >= 0 AND occupied + held <= maximum",
    )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False, unique=True),
        sa.Column("secret_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", TS),
        sa.Column("last_used_at", TS),
        sa.CheckConstraint("role IN ('admin', 'analyst', 'keeper')", name="role_known"),
    )
    op.create_table(
        "api_key_stations",
        sa.Column(
            "key_id",
            sa.Integer,
            sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "station_id",
            sa.Integer,
            sa.ForeignKey("stations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )

    op.create_table(
        "holds",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id"), nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id")),
        sa.Column("note", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        sa.Column("closed_at", TS),
        sa.CheckConstraint(
            "status IN ('active', 'confirmed', 'released', 'expired')", name="status_known"
        ),
        sa.CheckConstraint("unit IN ('seat', 'bed', 'charger')", name="unit_known"),
    )
    op.create_index(
        "ix_holds_active_expiry",
        "holds",
        ["expires_at"],
        postgresql_where=sa.text("status = 'active'"),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", postgresql.JSONB),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("key_id", "idempotency_key", name="uq_idempotency_key"),
    )

    op.execute(
        """
        CREATE FUNCTION notify_capacity_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('capacity', json_build_object(
                'event_id', NEW.id,
                'station', (SELECT code FROM stations WHERE id = NEW.station_id),
                'unit', NEW.unit, 'action', NEW.action, 'occupied', NEW.occupied_after,
                'held', coalesce((NEW.detail ->> 'held')::int, 0),
                'maximum', NEW.maximum_after, 'at', NEW.occurred_at)::text);
            RETURN NULL;
        END $$;
        CREATE TRIGGER occupancy_events_notify
            AFTER INSERT ON occupancy_events
            FOR EACH ROW EXECUTE FUNCTION notify_capacity_change();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER occupancy_events_notify ON occupancy_events")
    op.execute("DROP FUNCTION notify_capacity_change()")
    for table in ("idempotency_keys", "holds", "api_key_stations", "api_keys"):
        op.drop_table(table)
    op.drop_constraint("occupied_in_range", "station_capacity", type_="check")
    op.create_check_constraint(
        "occupied_in_range", "station_capacity", "occupied >= 0 AND occupied <= maximum"
    )
    op.drop_column("station_capacity", "held")
