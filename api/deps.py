"""Dependencies shared by the routes: settings and a database session per request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated, TypeVar

import psycopg2
from fastapi import Depends, Header, Request
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from locator import keys
from locator.config import Settings

T = TypeVar("T")


async def get_settings(request: Request) -> Settings:
    # async: a plain lookup, not worth a hop to the thread pool
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request; reads only, so it is closed without commit."""
    with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


SessionFactory = Callable[[], AbstractContextManager[Session | Connection]]


async def get_read_sessions(request: Request) -> SessionFactory:
    """Opens connections for routes that only read, in autocommit: each statement is its own
    transaction (as under READ COMMITTED anyway), without a BEGIN and a ROLLBACK round trip;
    plain connections, as the hot path has no use for an ORM session's bookkeeping.

    A factory rather than a connection, so that an ``async`` route opens, uses and closes it
    in one hop to the thread pool instead of three (open, work, close).
    """
    return request.app.state.read_sessionmaker


ReadSessionsDep = Annotated[SessionFactory, Depends(get_read_sessions)]


def read(sessions: SessionFactory, work: Callable[[Session | Connection], T]) -> T:
    """``work`` on a read connection, run once more on a fresh one if the server had dropped
    the pooled connection (a restart, an idle timeout).

    Read connections are not pinged before use (a round trip per request). The hot path
    queries through the raw DBAPI cursor, so a dropped connection shows as psycopg2's own
    error: the connection is discarded and the pool emptied (its other connections are as
    old), and the read runs again.
    """
    with sessions() as conn:
        try:
            return work(conn)
        except Exception as exc:
            if not _dropped(exc):
                raise
            conn.invalidate()
            (conn.get_bind() if isinstance(conn, Session) else conn).engine.dispose()
    with sessions() as conn:
        return work(conn)


def _dropped(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    # psycopg2 errors that the server sent carry a SQLSTATE; a lost connection has none
    return isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError) and not getattr(
        exc, "pgcode", None
    )


def get_clock(request: Request) -> Callable[[], dt.datetime]:
    """The service's clock (replaceable in tests)."""
    return request.app.state.clock


def get_key(
    session: SessionDep,
    authorization: Annotated[
        str | None, Header(description="Bearer <API key>", max_length=300)
    ] = None,
    x_api_key: Annotated[str | None, Header(description="The API key", max_length=300)] = None,
) -> keys.KeyInfo:
    """The caller's key, from ``Authorization: Bearer <key>`` or ``X-API-Key``."""
    presented = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    return keys.authenticate(session, presented)


ClockDep = Annotated[Callable[[], dt.datetime], Depends(get_clock)]
KeyDep = Annotated[keys.KeyInfo, Depends(get_key)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
