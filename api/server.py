"""Running the service under uvicorn, in one process or several.

With several worker processes uvicorn binds the listening socket itself with protocol 0; the
sockets it accepts inherit that, asyncio then leaves Nagle's algorithm on, and each answer on a
keep-alive connection can wait for the client's delayed ACK (about 40 ms on Linux;
Kludex/uvicorn#3149). So for several workers the socket is bound here, as TCP, and handed to
uvicorn's own process supervisor.
"""

from __future__ import annotations

import socket

from locator.config import Settings


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that worker processes inherit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve the API on (host, port) until interrupted."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from api.main import create_app

    level = settings.log_level.lower()
    if workers <= 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=level)
        return
    # Each worker builds its app from the environment, as the settings here were built.
    config = uvicorn.Config(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=level,
    )
    Multiprocess(config, sockets=[listening_socket(host, port)]).run()
