"""API keys: created with a role, shown once, stored only as a hash, revocable.

A key reads ``wsl_<prefix>_<secret>``: the prefix finds the record, the secret is checked
against its SHA-256 hash in constant time (secrets are 32 random bytes, so a slow hash adds
nothing). Roles: ``admin`` may do everything, ``analyst`` reads everything (history included)
and writes nothing, ``keeper`` writes only the stations bound to its key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.errors import (
    AuthenticationError,
    ConfigError,
    NotFoundError,
    PermissionDeniedError,
)
from locator.models import ROLES

KEY_PREFIX = "wsl"


@dataclass(frozen=True)
class KeyInfo:
    """Who is calling."""

    id: int
    name: str
    role: str
    prefix: str
    station_ids: frozenset[int]
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    stations: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        """How the event log names this caller."""
        return f"{self.role}:{self.name} ({self.prefix})"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session, name: str, role: str, *, stations: tuple[str, ...] = ()
) -> tuple[str, KeyInfo]:
    """Create a key; return the full key (shown once) and its record.

    Parameters
    ----------
    name : str
        Who holds it (a person or a station).
    role : {"admin", "analyst", "keeper"}
    stations : tuple of str
        Station codes a keeper may write; required for keepers, refused for other roles.
    """
    if role not in ROLES:
        raise ConfigError(f"role {role!r} must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise ConfigError("name must not be empty")
    if role == "keeper" and not stations:
        raise ConfigError("a keeper key needs at least one station code")
    if role != "keeper" and stations:
        raise ConfigError(f"stations are bound to keeper keys only, not to role {role!r}")
    ids = []
    for code in stations:
        found = session.execute(text("SELECT id FROM stations WHERE code = :c"), {"c": code})
        station_id = found.scalar_one_or_none()
        if station_id is None:
            raise NotFoundError(f"station {code!r} does not exist")
        ids.append(int(station_id))
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key_id = session.execute(
        text(
            "INSERT INTO api_keys (name, prefix, secret_hash, role) "
            "VALUES (:name, :prefix, :hash, :role) RETURNING id"
        ),
        {"name": name.strip(), "prefix": prefix, "hash": _hash(secret), "role": role},
    ).scalar_one()
    for station_id in ids:
        session.execute(
            text("INSERT INTO api_key_stations (key_id, station_id) VALUES (:k, :s)"),
            {"k": key_id, "s": station_id},
        )
    info = KeyInfo(int(key_id), name.strip(), role, prefix, frozenset(ids), stations=stations)
    return f"{KEY_PREFIX}_{prefix}_{secret}", info


def authenticate(session: Session, presented: str | None) -> KeyInfo:
    """The key behind ``presented``; :class:`AuthenticationError` when missing or not valid."""
    if not presented:
        raise AuthenticationError("this needs an API key (header 'Authorization: Bearer <key>')")
    parts = presented.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise AuthenticationError("the API key is malformed; keys look like wsl_<id>_<secret>")
    _, prefix, secret = parts
    row = session.execute(
        text(
            "SELECT id, name, role, prefix, secret_hash, revoked_at, "
            "ARRAY(SELECT station_id FROM api_key_stations WHERE key_id = k.id) AS stations "
            "FROM api_keys k WHERE prefix = :prefix"
        ),
        {"prefix": prefix},
    ).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        raise AuthenticationError("the API key is not valid")
    if row.revoked_at is not None:
        raise AuthenticationError(f"the API key {prefix} was revoked")
    return KeyInfo(row.id, row.name, row.role, row.prefix, frozenset(row.stations))


def require_write(key: KeyInfo, station_id: int, station_code: str) -> None:
    """Allow admins anywhere and keepers on their own stations; refuse everyone else."""
    if key.role == "admin":
        return
    if key.role == "keeper" and station_id in key.station_ids:
        return
    if key.role == "keeper":
        raise PermissionDeniedError(f"key {key.prefix} may not write station {station_code!r}")
    raise PermissionDeniedError(f"key {key.prefix} has role {key.role!r}, which writes nothing")


def require_read_private(key: KeyInfo) -> None:
    """History and other non-public reads: admins and analysts (and keepers of the station)."""
    if key.role not in ("admin", "analyst"):
        raise PermissionDeniedError(f"key {key.prefix} has role {key.role!r}; analysts read this")


def list_keys(session: Session) -> list[KeyInfo]:
    rows = session.execute(
        text(
            "SELECT k.id, k.name, k.role, k.prefix, k.created_at, k.revoked_at, "
            "ARRAY(SELECT s.code FROM api_key_stations a JOIN stations s ON s.id = a.station_id "
            "WHERE a.key_id = k.id ORDER BY s.code) AS stations FROM api_keys k ORDER BY k.id"
        )
    )
    return [
        KeyInfo(
            r.id,
            r.name,
            r.role,
            r.prefix,
            frozenset(),
            r.created_at,
            r.revoked_at,
            tuple(r.stations),
        )
        for r in rows
    ]


def revoke_key(session: Session, prefix: str, *, now: dt.datetime) -> None:
    """Revoke the key with ``prefix``; it stops working at once."""
    done = session.execute(
        text(
            "UPDATE api_keys SET revoked_at = :now WHERE prefix = :p AND revoked_at IS NULL "
            "RETURNING id"
        ),
        {"now": now, "p": prefix},
    ).one_or_none()
    if done is None:
        raise NotFoundError(f"no active key with id {prefix!r}")
