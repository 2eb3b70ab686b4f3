"""Idempotent writes: the first request with a key is applied, retries get the same answer.

The key is claimed with an ``INSERT … ON CONFLICT DO NOTHING`` in the same transaction as the
write and its answer. A retry that arrives while the first request is still running waits on
that row until the first commits, then reads the stored answer; if the first failed and rolled
back, the retry claims the key itself and is applied once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from locator.errors import ConfigError

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: dict[str, Any]


def fingerprint(method: str, path: str, payload: Any) -> str:
    """A digest of what a request asks for, to tell a retry from a different request."""
    canonical = json.dumps([method.upper(), path, payload], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(session: Session, key_id: int, idempotency_key: str, digest: str) -> StoredAnswer | None:
    """Claim ``idempotency_key`` for this request; return the stored answer of an earlier one.

    Raises
    ------
    ConfigError
        When the key is too long, or was used before for a different request.
    """
    if not (0 < len(idempotency_key) <= MAX_KEY_LENGTH):
        raise ConfigError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    claimed = session.execute(
        text(
            "INSERT INTO idempotency_keys (key_id, idempotency_key, fingerprint) "
            "VALUES (:key_id, :idem, :digest) "
            "ON CONFLICT (key_id, idempotency_key) DO NOTHING RETURNING id"
        ),
        {"key_id": key_id, "idem": idempotency_key, "digest": digest},
    ).one_or_none()
    if claimed is not None:
        return None
    stored = session.execute(
        text(
            "SELECT fingerprint, status_code, response FROM idempotency_keys "
            "WHERE key_id = :key_id AND idempotency_key = :idem"
        ),
        {"key_id": key_id, "idem": idempotency_key},
    ).one()
    if stored.fingerprint != digest:
        raise ConfigError(
            f"Idempotency-Key {idempotency_key!r} was already used for a different request"
        )
    return StoredAnswer(int(stored.status_code), dict(stored.response))


def record(
    session: Session, key_id: int, idempotency_key: str, status_code: int, body: dict[str, Any]
) -> None:
    """Store the answer given to the request that claimed ``idempotency_key``."""
    session.execute(
        text(
            "UPDATE idempotency_keys SET status_code = :status, response = CAST(:body AS jsonb) "
            "WHERE key_id = :key_id AND idempotency_key = :idem"
        ),
        {
            "status": status_code,
            "body": json.dumps(body, default=str),
            "key_id": key_id,
            "idem": idempotency_key,
        },
    )
