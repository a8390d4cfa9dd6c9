"""A plancube app behind a real uvicorn on a free port of 127.0.0.1, in a thread of the test.

Sign-in through the identity provider is HTTP between three parties — the browser, the server,
the provider — so it is tested over real sockets: the test IdP in one thread (``idp.py``), the
app in another (here), the browser being httpx or Chromium.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served on http://127.0.0.1:PORT (yielded) until the block ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            time.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()
