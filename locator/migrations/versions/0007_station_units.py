"""Stations know which capacity units they have, and each unit has a distance index of its own.

- ``stations.units``: the units (seat, bed, charger) with a maximum above 0, kept by triggers on
  ``station_capacity`` (statement-level for inserts and deletes, so a bulk load refreshes each
  station once; row-level for a changed maximum, which check-ins never touch).
- ``ix_stations_geog_<unit>``: a GiST index of ``geog`` over the stations having that unit, so
  a search for a free bed walks only the stations with beds, nearest first, however few they
  are. The nearest-station query writes the index's predicate (``units @> '{bed}'``) into its
  statement exactly as here, which lets the planner use it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UNITS = ("seat", "bed", "charger")  # locator.vocab.UNITS when this was written

_REFRESH = """
    UPDATE stations s SET units = u.units
    FROM (
        SELECT ids.id,
               coalesce(array_agg(c.unit ORDER BY c.unit) FILTER (WHERE c.maximum > 0),
                        '{{}}') AS units
        FROM ({ids}) ids LEFT JOIN station_capacity c ON c.station_id = ids.id
        GROUP BY ids.id
    ) u
    WHERE s.id = u.id AND s.units IS DISTINCT FROM u.units
"""


def upgrade() -> None:
    op.execute("ALTER TABLE stations ADD COLUMN units text[] NOT NULL DEFAULT '{}'")
    op.execute(_REFRESH.format(ids="SELECT id FROM stations"))
    functions = {
        "station_units_of_changed": "SELECT DISTINCT station_id AS id FROM changed",
        "station_units_of_row": "SELECT NEW.station_id AS id",
    }
    for function, ids in functions.items():
        op.execute(
            f"""
            CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {_REFRESH.format(ids=ids)};
                RETURN NULL;
            END $$
            """
        )
    op.execute(
        "CREATE TRIGGER station_capacity_units_insert AFTER INSERT ON station_capacity "
        "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
        "EXECUTE FUNCTION station_units_of_changed()"
    )
    op.execute(
        "CREATE TRIGGER station_capacity_units_delete AFTER DELETE ON station_capacity "
        "REFERENCING OLD TABLE AS changed FOR EACH STATEMENT "
        "EXECUTE FUNCTION station_units_of_changed()"
    )
    op.execute(
        "CREATE TRIGGER station_capacity_units_maximum AFTER UPDATE OF maximum "
        "ON station_capacity FOR EACH ROW WHEN (OLD.maximum IS DISTINCT FROM NEW.maximum) "
        "EXECUTE FUNCTION station_units_of_row()"
    )
    for unit in UNITS:
        op.execute(
            f"CREATE INDEX ix_stations_geog_{unit} ON stations USING gist (geog) "
            f"WHERE units @> '{{{unit}}}'::text[]"
        )


def downgrade() -> None:
    for unit in UNITS:
        op.execute(f"DROP INDEX ix_stations_geog_{unit}")
    for event in ("insert", "delete", "maximum"):
        op.execute(f"DROP TRIGGER station_capacity_units_{event} ON station_capacity")
    op.execute("DROP FUNCTION station_units_of_row()")
    op.execute("DROP FUNCTION station_units_of_changed()")
    op.execute("ALTER TABLE stations DROP COLUMN units")
