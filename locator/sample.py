"""The Beijing sample in ``data/beijing``: which file is which, and loading it all at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.errors import ConfigError
from locator.io import LoadReport, load_file


@dataclass(frozen=True)
class SampleFile:
    kind: str
    name: str
    level: str | None = None


SAMPLE_FILES = (
    SampleFile("areas", "districts.geojson", "district"),
    SampleFile("areas", "subdistricts.geojson", "subdistrict"),
    SampleFile("areas", "grid_1km.geojson.gz", "grid"),
    SampleFile("stations", "stations.synthetic.geojson.gz"),
    SampleFile("homes", "homes.synthetic.csv.gz"),
    SampleFile("candidates", "candidates.synthetic.geojson.gz"),
)


def load_sample(
    session: Session,
    sample_dir: Path,
    *,
    on_file: Callable[[SampleFile], None] | None = None,
) -> list[LoadReport]:
    """Load every sample file, areas first, in the caller's transaction."""
    missing = [f.name for f in SAMPLE_FILES if not (sample_dir / f.name).exists()]
    if missing:
        raise ConfigError(
            f"sample_dir {str(sample_dir)!r} lacks {', '.join(missing)}; rebuild it with "
            "scripts/build_sample.py or set LOCATOR_SAMPLE_DIR"
        )
    reports = []
    for sample_file in SAMPLE_FILES:
        if on_file:
            on_file(sample_file)
        reports.append(
            load_file(
                session,
                sample_file.kind,
                sample_dir / sample_file.name,
                crs="wgs84",
                level=sample_file.level,
            )
        )
    return reports


def district_summary(session: Session) -> list[dict[str, Any]]:
    """Per district: population, stations (active), places by unit, worker homes and workers."""
    rows = session.execute(
        text(
            """
            SELECT a.code, a.name_zh, a.name_en, a.population,
                   (SELECT count(*) FROM stations s WHERE s.district_code = a.code) AS stations,
                   (SELECT count(*) FROM stations s WHERE s.district_code = a.code
                        AND s.status = 'active') AS active,
                   (SELECT coalesce(sum(c.maximum), 0) FROM station_capacity c
                        JOIN stations s ON s.id = c.station_id
                        WHERE s.district_code = a.code AND c.unit = 'seat') AS seats,
                   (SELECT coalesce(sum(c.maximum), 0) FROM station_capacity c
                        JOIN stations s ON s.id = c.station_id
                        WHERE s.district_code = a.code AND c.unit = 'bed') AS beds,
                   (SELECT coalesce(sum(h.workers), 0) FROM worker_homes h
                        WHERE ST_Covers(a.geom, h.geom)) AS workers,
                   (SELECT count(*) FROM candidate_sites c
                        WHERE c.district_code = a.code) AS candidates
            FROM areas a WHERE a.level = 'district' ORDER BY a.code
            """
        )
    )
    return [dict(row._mapping) for row in rows]


def table_counts(session: Session) -> dict[str, int]:
    """Row counts of the store's tables (areas by level)."""
    counts = {
        table: int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
        for table in (
            "stations",
            "station_capacity",
            "worker_homes",
            "candidate_sites",
            "occupancy_events",
        )
    }
    for level, count in session.execute(text("SELECT level, count(*) FROM areas GROUP BY level")):
        counts[f"areas:{level}"] = int(count)
    return counts


def holds_synthetic_stations(session: Session) -> bool:
    """Whether any station in the store was generated (its ``source`` says "synthetic"), as the
    sample's are: maps and reports made from them must say so."""
    from sqlalchemy import exists, select

    from locator.models import Station

    return bool(session.scalar(select(exists().where(Station.source.ilike("%synthetic%")))))
