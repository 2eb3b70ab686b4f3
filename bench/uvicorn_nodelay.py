"""``uvicorn`` with TCP_NODELAY on every connection, also with ``--workers N`` (bench only).

With ``--workers N`` uvicorn binds the listening socket itself (``Config.bind_socket``) with
``proto`` 0; accepted sockets inherit it and asyncio then leaves Nagle's algorithm on, so each
answer on a keep-alive connection waits for the client's delayed ACK (about 40 ms on Linux;
Kludex/uvicorn#3149). This launcher re-creates the bound socket with ``IPPROTO_TCP`` and then
runs uvicorn's own command line, to measure what the fix would give. Usage: as ``uvicorn``.
"""

from __future__ import annotations

import socket

from uvicorn.config import Config
from uvicorn.main import main

_bind_socket = Config.bind_socket


def _bind_tcp_socket(self: Config) -> socket.socket:
    sock = _bind_socket(self)
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
        sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    return sock


Config.bind_socket = _bind_tcp_socket  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
