"""Live capacity changes for Server-Sent Events, fed by PostgreSQL LISTEN/NOTIFY.

One thread per service process listens on channel ``capacity`` (the trigger on
``occupancy_events`` notifies it in the committing transaction) and hands every payload to the
asyncio queues of the connected clients. Nothing polls the tables.
"""

from __future__ import annotations

import asyncio
import logging
import select
import threading
from contextlib import suppress

import psycopg2
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "capacity"
QUEUE_SIZE = 1000


class CapacityBroadcaster:
    """Fan capacity notifications out to subscribers; started with the first subscriber."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._dsn = {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "dbname": url.database,
        }
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str]:
        """A queue, read on ``loop``, that receives every notification from now on (JSON).

        Blocks until the listener is listening (call it from a worker thread).
        """
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            self._subscribers.add((loop, queue))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen, daemon=True, name="capacity-listener"
                )
                self._thread.start()
        self._ready.wait(timeout=10)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        with self._lock:
            self._subscribers = {s for s in self._subscribers if s[1] is not queue}

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                connection = psycopg2.connect(**self._dsn)
            except psycopg2.OperationalError as exc:
                log.warning("capacity stream cannot reach the database: %s", exc)
                self._stop.wait(2.0)
                continue
            try:
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(f"LISTEN {CHANNEL}")
                self._ready.set()
                while not self._stop.is_set():
                    if select.select([connection], [], [], 0.5) == ([], [], []):
                        continue
                    connection.poll()
                    while connection.notifies:
                        self._publish(connection.notifies.pop(0).payload)
            except psycopg2.Error as exc:
                log.warning("capacity stream lost its connection: %s", exc)
            finally:
                with suppress(psycopg2.Error):
                    connection.close()

    def _publish(self, payload: str) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            loop.call_soon_threadsafe(_offer, queue, payload)


def _offer(queue: asyncio.Queue[str], payload: str) -> None:
    if queue.full():  # a client that does not read loses the oldest change, not the newest
        queue.get_nowait()
    queue.put_nowait(payload)
