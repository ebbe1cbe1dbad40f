"""Pick a free TCP port on 127.0.0.1."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Return a port that was free on 127.0.0.1 a moment ago.

    The port is released before returning, so another process could take it
    in between; callers start their server right away and fail loudly if the
    bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
