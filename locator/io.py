"""Reading, validating and loading input files: stations, areas, worker homes, candidate sites.

Files may be GeoJSON (``.geojson``/``.json``), GeoPackage, Shapefile or CSV with ``lon``/``lat``
columns; GeoJSON and CSV may be gzip-compressed (``.gz``). Coordinates are converted from the
declared CRS to WGS-84. A file is validated whole before anything is written: every problem is
reported with its row (1-based record number), field and value, and a file with problems
stores nothing. Loading the same codes again updates those records.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from locator import vocab
from locator.crs import CRS, WGS84, parse_crs, to_wgs84
from locator.errors import ConfigError, InputValidationError, Problem
from locator.hours import syntax_problem

log = logging.getLogger(__name__)

Parser = Callable[[Any], Any]
FILE_KINDS = ("stations", "areas", "homes", "candidates")
CAPACITY_FIELDS = {"seats": "seat", "beds": "bed", "chargers": "charger"}


# -- field parsers: return the clean value or raise ValueError with the reason -------------------
def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str:
    return str(value).strip()


def _integer(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a whole number") from None
        if not number.is_integer():
            raise ValueError("must be a whole number")
        result = int(number)
        if minimum is not None and result < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and result > maximum:
            raise ValueError(f"must be at most {maximum}")
        return result

    return parse


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValueError("must be a date as YYYY-MM-DD") from None


def _term(labels: vocab.Labels) -> Parser:
    def parse(value: Any) -> str:
        code = str(value).strip()
        if code not in labels:
            raise ValueError(f"is not one of {', '.join(labels)}")
        return code

    return parse


def _terms(labels: vocab.Labels) -> Parser:
    def parse(value: Any) -> list[str]:
        if isinstance(value, str):
            items = [v.strip() for v in value.replace(",", ";").split(";")]
        elif isinstance(value, list | tuple | np.ndarray):
            items = [str(v).strip() for v in value]
        else:
            raise ValueError("must be a list of codes (a JSON array or 'a;b;c')")
        items = [v for v in items if v]
        unknown = vocab.unknown_terms(items, labels)
        if unknown:
            raise ValueError(f"has unknown codes {unknown}; allowed: {', '.join(labels)}")
        return sorted(set(items), key=items.index)

    return parse


def _hours(value: Any) -> str:
    expression = str(value).strip()
    problem = syntax_problem(expression)
    if problem:
        raise ValueError(problem)
    return expression


@dataclass(frozen=True)
class Field:
    """One column of an input file and the database column it fills."""

    name: str
    parse: Parser = _text
    required: bool = False
    column: str | None = None
    default: Any = None

    @property
    def target(self) -> str:
        return self.column or self.name


@dataclass(frozen=True)
class FileSpec:
    """What one kind of file holds and where it goes."""

    kind: str
    table: str
    fields: tuple[Field, ...]
    geometry_types: tuple[str, ...]
    extra_fields: tuple[Field, ...] = ()

    @property
    def all_fields(self) -> tuple[Field, ...]:
        return self.fields + self.extra_fields


SPECS: dict[str, FileSpec] = {
    "stations": FileSpec(
        kind="stations",
        table="stations",
        geometry_types=("Point",),
        fields=(
            Field("code", required=True),
            Field("name_zh", required=True),
            Field("name_en"),
            Field("kind", _term(vocab.KINDS), required=True),
            Field("operator"),
            Field("address"),
            Field("district", column="district_code"),
            Field("services", _terms(vocab.SERVICES), default=[]),
            Field("groups", _terms(vocab.GROUPS), default=[]),
            Field("opening_hours", _hours, required=True),
            Field("stars", _integer(1, 5)),
            Field("stars_reviewed_on", _date),
            Field("status", _term(vocab.STATUSES), default="active"),
            Field("source"),
        ),
        extra_fields=tuple(Field(name, _integer(0, 100_000)) for name in CAPACITY_FIELDS),
    ),
    "areas": FileSpec(
        kind="areas",
        table="areas",
        geometry_types=("Polygon", "MultiPolygon"),
        fields=(
            Field("code", required=True),
            Field("level", _term(vocab.AREA_LEVELS), required=True),
            Field("name_zh", required=True),
            Field("name_en"),
            Field("parent", column="parent_code"),
            Field("population", _integer(0)),
            Field("source"),
        ),
    ),
    "homes": FileSpec(
        kind="homes",
        table="worker_homes",
        geometry_types=("Point",),
        fields=(
            Field("code", required=True),
            Field("group", _term(vocab.GROUPS), required=True, column="worker_group"),
            Field("workers", _integer(1, 100_000), required=True),
            Field("source"),
        ),
    ),
    "candidates": FileSpec(
        kind="candidates",
        table="candidate_sites",
        geometry_types=("Point",),
        fields=(
            Field("code", required=True),
            Field("name"),
            Field("site_type", _term(vocab.SITE_TYPES), required=True),
            Field("capacity", _integer(0, 100_000)),
            Field("district", column="district_code"),
            Field("source"),
        ),
    ),
}


# -- reading -------------------------------------------------------------------------------------
@dataclass
class RawTable:
    """Records of a file before validation: properties, geometry (or None) and declared CRS."""

    path: Path
    records: list[dict[str, Any]]
    geometries: list[BaseGeometry | None]
    declared_crs: CRS | None
    geometry_problems: dict[int, str] = field(default_factory=dict)


def _suffixes(path: Path) -> tuple[str, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    return (suffixes[-1] if suffixes else ""), gzipped


def _open_text(path: Path, gzipped: bool) -> io.TextIOBase:
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_table(path: Path, *, layer: str | None = None) -> RawTable:
    """Read any supported file into raw records.

    Raises
    ------
    InputValidationError
        When the file cannot be read at all (missing, wrong format, broken JSON).
    """
    path = Path(path)
    if not path.is_file():
        raise InputValidationError(str(path), [Problem(None, None, None, "file does not exist")])
    suffix, gzipped = _suffixes(path)
    try:
        if suffix in {".geojson", ".json"}:
            return _read_geojson(path, gzipped)
        if suffix in {".csv", ".txt"}:
            return _read_csv(path, gzipped)
        if suffix in {".gpkg", ".shp", ".zip"} and not gzipped:
            return _read_ogr(path, layer)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise InputValidationError(
            str(path), [Problem(None, None, None, f"cannot be read: {exc}")]
        ) from None
    raise InputValidationError(
        str(path),
        [
            Problem(
                None,
                None,
                path.name,
                "unsupported file type; use .geojson/.json, .gpkg, .shp or .csv "
                "(GeoJSON and CSV may be .gz)",
            )
        ],
    )


def _read_geojson(path: Path, gzipped: bool) -> RawTable:
    with _open_text(path, gzipped) as handle:
        doc = json.load(handle)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputValidationError(
            str(path),
            [
                Problem(
                    None,
                    "type",
                    doc.get("type") if isinstance(doc, dict) else None,
                    "a GeoJSON FeatureCollection is expected",
                )
            ],
        )
    declared = None
    crs_member = doc.get("crs")
    if isinstance(crs_member, dict):
        name = str(crs_member.get("properties", {}).get("name", ""))
        if name:
            declared = parse_crs(name.rsplit(":", 1)[-1] if "EPSG" in name.upper() else name)
    records, geometries, problems = [], [], {}
    for index, feature in enumerate(doc.get("features") or [], start=1):
        feature = feature if isinstance(feature, dict) else {}
        records.append(dict(feature.get("properties") or {}))
        try:
            geom = shapely.geometry.shape(feature["geometry"]) if feature.get("geometry") else None
        except (
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            shapely.errors.GEOSException,
        ) as exc:
            geom, problems[index] = None, f"geometry cannot be read ({exc})"
        geometries.append(geom)
    return RawTable(path, records, geometries, declared, problems)


def _read_csv(path: Path, gzipped: bool) -> RawTable:
    with _open_text(path, gzipped) as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        lon_col = next((columns[c] for c in ("lon", "lng", "longitude", "x") if c in columns), None)
        lat_col = next((columns[c] for c in ("lat", "latitude", "y") if c in columns), None)
        if lon_col is None or lat_col is None:
            raise InputValidationError(
                str(path),
                [Problem(None, "lon/lat", sorted(columns), "CSV needs lon and lat columns")],
            )
        records, geometries, problems = [], [], {}
        for index, row in enumerate(reader, start=1):
            lon, lat = row.pop(lon_col, None), row.pop(lat_col, None)
            records.append({k.strip(): v for k, v in row.items() if k is not None})
            try:
                geometries.append(shapely.Point(float(lon), float(lat)))
            except (TypeError, ValueError):
                geometries.append(None)
                problems[index] = f"lon/lat must be numbers, got {lon!r}, {lat!r}"
    return RawTable(path, records, geometries, None, problems)


def _read_ogr(path: Path, layer: str | None) -> RawTable:
    import pyogrio

    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputValidationError(str(path), [Problem(None, None, None, str(exc))]) from None
    declared = None
    if frame.crs is not None:
        epsg = frame.crs.to_epsg()
        declared = parse_crs(epsg) if epsg else None
    geometries = list(frame.geometry)
    records = frame.drop(columns=frame.geometry.name).to_dict(orient="records")
    return RawTable(path, records, geometries, declared)


# -- validation ----------------------------------------------------------------------------------
@dataclass
class CleanTable:
    """Validated rows ready to store, in WGS-84."""

    spec: FileSpec
    path: Path
    rows: list[dict[str, Any]]
    geometries: list[BaseGeometry]
    warnings: list[str] = field(default_factory=list)


def choose_crs(raw: RawTable, crs: str | int | None) -> CRS:
    """The CRS to read ``raw`` in: the one given, else the file's own, else GeoJSON's WGS-84."""
    if crs is not None:
        chosen = parse_crs(crs)
        if raw.declared_crs and raw.declared_crs.epsg not in (None, WGS84, chosen.epsg):
            log.warning("%s declares %s but is read as %s", raw.path, raw.declared_crs, chosen)
        return chosen
    if raw.declared_crs is not None:
        return raw.declared_crs
    if _suffixes(raw.path)[0] in {".geojson", ".json"}:
        return parse_crs("wgs84")
    raise ConfigError(
        f"{raw.path}: the file does not declare its coordinate system; give crs as 'wgs84', "
        "'gcj02', 'bd09' or an EPSG code (--crs on the command line)"
    )


def validate(
    raw: RawTable, kind: str, *, crs: str | int | None = None, level: str | None = None
) -> CleanTable:
    """Check every record of ``raw`` as a ``kind`` file; raise with all problems found.

    Parameters
    ----------
    raw : RawTable
        What :func:`read_table` returned.
    kind : str
        One of ``stations``, ``areas``, ``homes``, ``candidates``.
    crs : str or int, optional
        The coordinate system of the file (see :func:`choose_crs`).
    level : str, optional
        For areas: the level of every record when the file has no ``level`` column.
    """
    if kind not in SPECS:
        raise ConfigError(f"kind {kind!r} is not one of {', '.join(SPECS)}")
    spec = SPECS[kind]
    source_crs = choose_crs(raw, crs)
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    seen_codes: dict[str, int] = {}
    for index, record in enumerate(raw.records, start=1):
        if level is not None and _is_missing(record.get("level")):
            record = {**record, "level": level}
        row, row_problems = _validate_record(spec, index, record)
        problems.extend(row_problems)
        code = row.get("code")
        if code is not None:
            if code in seen_codes:
                problems.append(
                    Problem(index, "code", code, f"is repeated (first in row {seen_codes[code]})")
                )
            else:
                seen_codes[code] = index
        rows.append(row)
    geometries, geometry_problems = _validate_geometries(raw, spec, source_crs)
    problems.extend(geometry_problems)
    if not raw.records:
        problems.append(Problem(None, None, None, "the file has no records"))
    if problems:
        problems.sort(key=lambda p: p.row or 0)
        raise InputValidationError(str(raw.path), problems)
    known = {f.name for f in spec.all_fields} | {"lon", "lat", "id"}
    ignored = sorted({k for r in raw.records for k in r} - known)
    warnings = [f"ignored columns: {', '.join(ignored)}"] if ignored else []
    return CleanTable(spec, raw.path, rows, geometries, warnings)


def _validate_record(
    spec: FileSpec, index: int, record: dict[str, Any]
) -> tuple[dict[str, Any], list[Problem]]:
    row: dict[str, Any] = {}
    problems = []
    for fld in spec.all_fields:
        value = record.get(fld.name)
        if _is_missing(value):
            if fld.required:
                problems.append(Problem(index, fld.name, None, "is required"))
            row[fld.name] = fld.default
            continue
        try:
            row[fld.name] = fld.parse(value)
        except ValueError as exc:
            problems.append(Problem(index, fld.name, _shown(value), str(exc)))
            row[fld.name] = None
    return row, problems


def _shown(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _validate_geometries(
    raw: RawTable, spec: FileSpec, source_crs: CRS
) -> tuple[list[BaseGeometry | None], list[Problem]]:
    problems = [Problem(i, "geometry", None, msg) for i, msg in raw.geometry_problems.items()]
    clean: list[BaseGeometry | None] = []
    geographic = source_crs.epsg in (None, WGS84)
    for index, geom in enumerate(raw.geometries, start=1):
        if index in raw.geometry_problems:
            clean.append(None)
            continue
        problem = _geometry_problem(geom, spec, geographic)
        if problem:
            problems.append(Problem(index, "geometry", problem[1], problem[0]))
            clean.append(None)
            continue
        clean.append(_to_wgs84(geom, source_crs))
    return clean, problems


def _geometry_problem(
    geom: BaseGeometry | None, spec: FileSpec, geographic: bool
) -> tuple[str, Any] | None:
    if geom is None or geom.is_empty:
        return ("is missing or empty", None)
    if geom.geom_type not in spec.geometry_types:
        return (f"must be {' or '.join(spec.geometry_types)}", geom.geom_type)
    if geographic:
        xmin, ymin, xmax, ymax = geom.bounds
        if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
            hint = ""
            if xmin >= -90 and xmax <= 90 and (ymax > 90 or ymin < -90):
                hint = " (looks like lat, lon order; coordinates must be lon, lat)"
            return (
                f"coordinates out of range: lon must be in [-180, 180], lat in [-90, 90]{hint}",
                _rounded_bounds(geom),
            )
    if not geom.is_valid:
        return (f"is not valid ({shapely.is_valid_reason(geom)})", None)
    return None


def _rounded_bounds(geom: BaseGeometry) -> Any:
    if geom.geom_type == "Point":
        return (round(geom.x, 6), round(geom.y, 6))
    return tuple(round(v, 6) for v in geom.bounds)


def _to_wgs84(geom: BaseGeometry, source_crs: CRS) -> BaseGeometry:
    if source_crs.epsg == WGS84:
        return geom

    def convert(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return to_wgs84(x, y, source_crs)

    return shapely.transform(geom, lambda xy: np.column_stack(convert(xy[:, 0], xy[:, 1])))


# -- storing -------------------------------------------------------------------------------------
@dataclass
class LoadReport:
    """What one load did."""

    kind: str
    path: str
    records: int
    inserted: int
    updated: int
    warnings: list[str]

    def __str__(self) -> str:
        unchanged = self.records - self.inserted - self.updated
        text_ = (
            f"{self.kind}: {self.records} records from {self.path} "
            f"({self.inserted} new, {self.updated} updated, {unchanged} unchanged)"
        )
        return text_ + "".join(f"\n  warning: {w}" for w in self.warnings)


def load_file(
    session: Session,
    kind: str,
    path: Path | str,
    *,
    crs: str | int | None = None,
    level: str | None = None,
    layer: str | None = None,
) -> LoadReport:
    """Validate ``path`` as a ``kind`` file and upsert it by code, inside the caller's transaction.

    Nothing is written when the file has any problem (:class:`InputValidationError`).
    """
    table = validate(read_table(Path(path), layer=layer), kind, crs=crs, level=level)
    return store(session, table)


def store(session: Session, table: CleanTable) -> LoadReport:
    """Upsert validated rows (the caller owns the transaction)."""
    spec = table.spec
    table.warnings.extend(_extent_warnings(session, table))
    columns = [f.target for f in spec.fields]
    inserted, updated = _upsert(session, spec.table, columns, table.rows, table.geometries, spec)
    if spec.kind == "stations":
        _store_capacity(session, table)
    report = LoadReport(
        spec.kind, str(table.path), len(table.rows), inserted, updated, table.warnings
    )
    log.debug("%s", report)
    return report


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return "{" + ",".join(value) + "}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _copy_rows(session: Session, temp: str, columns: list[str], rows: Iterator[list[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
    buffer.seek(0)
    cursor = session.connection().connection.cursor()
    cursor.copy_expert(f"COPY {temp} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)


def _upsert(
    session: Session,
    table: str,
    columns: list[str],
    rows: list[dict[str, Any]],
    geometries: list[BaseGeometry],
    spec: FileSpec,
) -> tuple[int, int]:
    temp = f"incoming_{table}"
    session.execute(text(f"DROP TABLE IF EXISTS {temp}"))
    session.execute(
        text(
            f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS "
            f"SELECT {', '.join(columns)}, geom FROM {table} WITH NO DATA"
        )
    )
    if "MultiPolygon" in spec.geometry_types:
        geometries = [
            shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in geometries
        ]
    wkb = shapely.to_wkb(
        shapely.set_srid(np.asarray(geometries, dtype=object), WGS84), hex=True, include_srid=True
    )
    field_names = [f.name for f in spec.fields]
    _copy_rows(
        session,
        temp,
        [*columns, "geom"],
        ([row[name] for name in field_names] + [g] for row, g in zip(rows, wkb, strict=True)),
    )
    if "district_code" in columns:
        _assign_districts(session, temp)
    changing = [c for c in [*columns, "geom"] if c != "code"]
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in changing)
    if table == "stations":
        assignments += ", updated_at = now()"
    current = ", ".join(f"{table}.{c}" for c in changing)
    incoming = ", ".join(f"EXCLUDED.{c}" for c in changing)
    result = session.execute(
        text(
            f"INSERT INTO {table} ({', '.join(columns)}, geom) "
            f"SELECT {', '.join(columns)}, geom FROM {temp} "
            f"ON CONFLICT (code) DO UPDATE SET {assignments} "
            f"WHERE ({current}) IS DISTINCT FROM ({incoming}) "
            "RETURNING (xmax = 0) AS inserted"
        )
    )
    flags = [row.inserted for row in result]
    inserted = sum(flags)
    return inserted, len(flags) - inserted


def _store_capacity(session: Session, table: CleanTable) -> None:
    """Set each station's unit maxima from seats/beds/chargers, logging every change."""
    entries = [
        (row["code"], unit, row[name])
        for row in table.rows
        for name, unit in CAPACITY_FIELDS.items()
        if row.get(name) is not None
    ]
    if not entries:
        return
    session.execute(text("DROP TABLE IF EXISTS incoming_capacity"))
    session.execute(
        text(
            "CREATE TEMP TABLE incoming_capacity (code text, unit text, maximum int) ON COMMIT DROP"
        )
    )
    _copy_rows(session, "incoming_capacity", ["code", "unit", "maximum"], iter(map(list, entries)))
    session.execute(
        text(
            """
            WITH wanted AS (
                SELECT s.id AS station_id, i.unit, i.maximum
                FROM incoming_capacity i JOIN stations s ON s.code = i.code
                LEFT JOIN station_capacity c ON c.station_id = s.id AND c.unit = i.unit
                WHERE (c.station_id IS NULL AND i.maximum > 0) OR c.maximum <> i.maximum
            ), changed AS (
                INSERT INTO station_capacity (station_id, unit, maximum, occupied)
                SELECT station_id, unit, maximum, 0 FROM wanted
                ON CONFLICT (station_id, unit) DO UPDATE
                    SET maximum = EXCLUDED.maximum,
                        occupied = LEAST(station_capacity.occupied, EXCLUDED.maximum)
                RETURNING station_id, unit, maximum, occupied
            )
            INSERT INTO occupancy_events
                (station_id, unit, actor, action, occupied_after, maximum_after, detail)
            SELECT station_id, unit, 'loader', 'set_maximum', occupied, maximum,
                   jsonb_build_object('file', CAST(:path AS text))
            FROM changed
            """
        ),
        {"path": str(table.path)},
    )


def _assign_districts(session: Session, temp: str) -> None:
    """Fill missing district codes of incoming points from the district polygon covering them."""
    session.execute(
        text(
            f"""
            UPDATE {temp} t SET district_code = a.code
            FROM areas a
            WHERE t.district_code IS NULL AND a.level = 'district' AND ST_Covers(a.geom, t.geom)
            """
        )
    )


def _extent_warnings(session: Session, table: CleanTable) -> list[str]:
    """Warn about records outside the extent of the districts already loaded."""
    if table.spec.kind == "areas":
        return []
    extent = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM areas WHERE level = 'district') s"
        )
    ).one()
    if extent[0] is None:
        return []
    xmin, ymin, xmax, ymax = extent
    outside = [
        (i, row["code"])
        for i, (row, g) in enumerate(zip(table.rows, table.geometries, strict=True), start=1)
        if not (xmin <= g.x <= xmax and ymin <= g.y <= ymax)
    ]
    if not outside:
        return []
    shown = ", ".join(f"row {i} ({code})" for i, code in outside[:10])
    more = f" and {len(outside) - 10} more" if len(outside) > 10 else ""
    return [f"{len(outside)} records lie outside the loaded districts' extent: {shown}{more}"]
