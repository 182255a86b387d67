"""The web figures' browsers: raw-socket HTTP clients, all driven by one selector loop, so a
thousand of them cost the benchmark little.

    crowd = Pollers(port, [Client(job.id, job.version), ...])   # or Streamers
    crowd.run(until)          # until a monotonic time, or every job finished
    crowd.latencies           # ms from each progress() call to the client that saw it

The task under watch (``report`` in contestants.py) puts the time of each ``progress()`` call
in the progress message; a client records, per answer or event carrying a newer version, the
delay from that time to its arrival.
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from dataclasses import dataclass, field

UNFINISHED = ("queued", "running")


@dataclass
class Client:
    job_id: str
    since: int
    sock: socket.socket | None = None
    buffer: bytearray = field(default_factory=bytearray)
    started: bool = False  # an event stream's status line and headers were read
    finished: bool = False  # the job was seen finished: do not ask again


class Crowd:
    """The selector loop: ``_open`` asks, ``_received`` takes each chunk, ``_closed`` decides
    whether to ask again when the server ends the connection."""

    def __init__(self, port: int, clients: list[Client]) -> None:
        self.port = port
        self.clients = clients
        self.latencies: list[float] = []
        self.errors = 0
        self.answers = 0  # answers (long-poll) or events (streams) carrying a job
        self._selector = selectors.DefaultSelector()

    def run(self, until: float) -> None:
        for client in self.clients:
            self._open(client)
        while time.monotonic() < until and self._selector.get_map():
            for key, _ in self._selector.select(timeout=0.5):
                client = key.data
                chunk = client.sock.recv(65536)
                if chunk:
                    self._received(client, chunk)
                    continue
                self._selector.unregister(client.sock)
                client.sock.close()
                if self._closed(client):
                    self._open(client)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()

    def _open(self, client: Client) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setblocking(False)
        sock.sendall(self._request(client).encode())
        client.sock, client.buffer, client.started = sock, bytearray(), False
        self._selector.register(sock, selectors.EVENT_READ, client)

    def _seen(self, client: Client, job: dict, received: float) -> bool:
        """Count a job the server sent; False once it is finished."""
        self.answers += 1
        if job["version"] > client.since and job["progress"]["message"]:
            self.latencies.append((received - float(job["progress"]["message"])) * 1000)
        client.since = max(client.since, job["version"])
        return job["state"] in UNFINISHED

    def _request(self, client: Client) -> str:
        raise NotImplementedError

    def _received(self, client: Client, chunk: bytes) -> None:
        client.buffer += chunk

    def _closed(self, client: Client) -> bool:
        raise NotImplementedError


class Pollers(Crowd):
    """Long-poll clients: each asks again as soon as it has an answer, one connection each."""

    def _request(self, client: Client) -> str:
        return (f"GET /jobs/{client.job_id}?since={client.since}&wait=25 HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.port}\r\nConnection: close\r\n\r\n")

    def _closed(self, client: Client) -> bool:
        received = time.time()
        head, _, body = bytes(client.buffer).partition(b"\r\n\r\n")
        if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
            self.errors += 1
            return True
        return self._seen(client, json.loads(body), received)


class Streamers(Crowd):
    """Event-stream clients, as EventSource: each holds one stream open, reads each event as
    it arrives, and opens the stream again from the last version when the server ends it."""

    def _request(self, client: Client) -> str:
        return (f"GET /jobs/{client.job_id}/events?since={client.since} HTTP/1.0\r\n"
                f"Host: 127.0.0.1:{self.port}\r\nAccept: text/event-stream\r\n\r\n")

    def _received(self, client: Client, chunk: bytes) -> None:
        received = time.time()
        client.buffer += chunk
        if not client.started:
            head, found, rest = bytes(client.buffer).partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
                self.errors += 1
            client.buffer, client.started = bytearray(rest), True
        while (end := client.buffer.find(b"\n\n")) >= 0:
            event = bytes(client.buffer[:end])
            del client.buffer[:end + 2]
            data = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
            if data and not self._seen(client, json.loads(b"\n".join(data)), received):
                client.finished = True

    def _closed(self, client: Client) -> bool:
        if not client.started:
            self.errors += 1  # ended before its headers: open it again
        return not client.finished
