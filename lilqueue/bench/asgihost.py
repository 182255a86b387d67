"""The ASGI figures' server: a small host app with one async route of its own, ``GET /hello``,
and a queue's endpoints under ``/jobs`` through one of the two faces, served by uvicorn in this
one process (one worker, no access log: what ``uvicorn --workers 1 --no-access-log`` runs).

    python -m lilqueue.bench.asgihost asgi PATH MAX_WAITERS    # queue.asgi(host)
    python -m lilqueue.bench.asgihost wsgi PATH MAX_WAITERS    # a2wsgi.WSGIMiddleware(queue.middleware())

It prints the port it listens on. The WSGI face is mounted as demo/mount_fastapi.py does it
(a2wsgi with 32 threads), behind a router of a few lines instead of FastAPI's.
"""

from __future__ import annotations

import resource
import socket
import sys
from typing import Any

import uvicorn

from .contestants import build_queue

BACKLOG = 4096  # the kernel caps it at net.core.somaxconn
A2WSGI_THREADS = 32  # as in demo/mount_fastapi.py


async def host(scope: dict, receive: Any, send: Any) -> None:
    """The host's own async route: what it answers while the face serves the crowd."""
    if scope["type"] != "http":
        return  # speaks no lifespan: the face runs its own
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


def wsgi_face(path: str, max_waiters: int) -> Any:
    from a2wsgi import WSGIMiddleware

    jobs = WSGIMiddleware(build_queue(path).middleware(max_waiters=max_waiters), workers=A2WSGI_THREADS)

    async def app(scope: dict, receive: Any, send: Any) -> None:
        wanted = scope["type"] == "http" and scope["path"].startswith("/jobs")
        await (jobs if wanted else host)(scope, receive, send)

    return app


def main(argv: list[str]) -> None:
    face, path, max_waiters = argv[0], argv[1], int(argv[2])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a socket per stream
    if face == "asgi":
        app = build_queue(path).asgi(host, max_waiters=max_waiters)
    else:
        app = wsgi_face(path, max_waiters)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(BACKLOG)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, workers=1, access_log=False, log_level="warning", lifespan="auto",
                            backlog=BACKLOG, timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
