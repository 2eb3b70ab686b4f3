"""``uvicorn`` whose several worker processes listen on the socket ``locator serve`` binds.

With ``--workers N`` uvicorn binds the listening socket itself with protocol 0; accepted sockets
inherit it and asyncio then leaves Nagle's algorithm on, so each answer on a keep-alive
connection waits for the client's delayed ACK (about 40 ms on Linux; Kludex/uvicorn#3149).
``locator serve`` binds it as TCP instead (``api.server.listening_socket``); this launcher makes
uvicorn's own command line do the same, so that the benchmarks can choose the event loop and the
HTTP parser explicitly. Usage: as ``uvicorn``.
"""

from __future__ import annotations

import socket

from uvicorn.config import Config
from uvicorn.main import main

from api.server import listening_socket


def _bind_tcp_socket(self: Config) -> socket.socket:
    return listening_socket(self.host, self.port)


Config.bind_socket = _bind_tcp_socket  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
