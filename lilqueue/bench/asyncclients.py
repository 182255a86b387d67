"""The ASGI figures' browsers, a few thousand per child process on raw asyncio sockets, and the
probe that times the host's own route meanwhile.

    python -m lilqueue.bench.asyncclients < spec.json      # prints the result as JSON

spec: ``{"kind": "streams" | "polls" | "probe", "port": 8000, "clients": [[job_id, since], ...],
"ramp": 10.0, "start": T0, "end": T1}`` (``start`` and ``end``: ``time.time()`` values).
result: ``{"latencies": [ms, ...], "events": n, "errors": n, "opened": n}``, counting only
what arrives between ``start`` and ``end``.

The clients open over ``ramp`` seconds and behave as a browser's would: an event stream is
opened again from its last version when the server ends it, after the ``retry:`` the server
asked for (``EventSource``); a long-poll asks again at once, or after ``Retry-After`` when the
answer carries one (``lilqueue.js``). A latency is the arrival of a newer version minus the
time that the task (``report`` in contestants.py) put in its progress message. The probe asks
``GET /hello`` on a new connection every PROBE_EVERY seconds and times the whole answer.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

PROBE_EVERY = 0.02
EVENTSOURCE_RETRY = 3.0  # seconds, until the server sends a retry: field (browsers' default)
UNFINISHED = (b"queued", b"running")

_parsed: dict[bytes, tuple[int, bytes, float | None]] = {}


def parse(data: bytes) -> tuple[int, bytes, float | None]:
    """A job's version, state and progress time; parsed once per process for every client that
    receives the same bytes (every client of one job does)."""
    found = _parsed.get(data)
    if found is None:
        if len(_parsed) > 4096:
            _parsed.clear()
        job = json.loads(data)
        message = job["progress"]["message"]
        found = _parsed[data] = (job["version"], job["state"].encode(), float(message) if message else None)
    return found


class Tally:
    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.latencies: list[float] = []
        self.events = self.errors = self.opened = 0

    def seen(self, client: Client, data: bytes, received: float) -> None:
        version, state, sent = parse(data)
        if version > client.since and self.start <= received <= self.end:
            self.events += 1
            if sent is not None:
                self.latencies.append(round((received - sent) * 1000, 2))
        client.since = max(client.since, version)
        client.finished = state not in UNFINISHED

    def error(self) -> None:
        if self.start <= time.time() <= self.end:
            self.errors += 1

    def result(self) -> dict[str, Any]:
        return {"latencies": self.latencies, "events": self.events, "errors": self.errors, "opened": self.opened}


class Client:
    __slots__ = ("job_id", "since", "finished", "retry")

    def __init__(self, job_id: str, since: int) -> None:
        self.job_id, self.since, self.finished, self.retry = job_id, since, False, EVENTSOURCE_RETRY


class Crowd:
    """Opens each client's connection, and again when the server ended it."""

    def __init__(self, port: int, tally: Tally) -> None:
        self.port, self.tally = port, tally
        self.transports: set[asyncio.BaseTransport] = set()
        self.closing = False  # the window ended: what is cut now is not an answer

    def open(self, client: Client, delay: float = 0.0) -> None:
        if not client.finished and time.time() + delay < self.tally.end:
            asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self._connect(client)))

    async def _connect(self, client: Client) -> None:
        try:
            await asyncio.get_running_loop().create_connection(lambda: self.protocol(client), "127.0.0.1", self.port)
            self.tally.opened += 1
        except OSError:
            self.tally.error()
            self.open(client, 1.0)

    def protocol(self, client: Client) -> asyncio.Protocol:
        raise NotImplementedError


class Answer(asyncio.Protocol):
    """One request on its own connection; the subclass reads what arrives."""

    def __init__(self, crowd: Crowd, client: Client) -> None:
        self.crowd, self.client = crowd, client
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.crowd.transports.add(transport)
        transport.write(self.request())  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.crowd.transports.discard(self.transport)  # type: ignore[arg-type]
        if not self.crowd.closing:
            self.ended(time.time())

    def request(self) -> bytes:
        raise NotImplementedError

    def ended(self, received: float) -> None:
        raise NotImplementedError


class Stream(Answer):
    """``GET /jobs/{id}/events`` held open, read event by event as it arrives."""

    started = False

    def request(self) -> bytes:
        return (f"GET /jobs/{self.client.job_id}/events?since={self.client.since} HTTP/1.0\r\n"
                f"Host: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").encode()

    def data_received(self, data: bytes) -> None:
        received = time.time()
        self.buffer += data
        if not self.started:
            head, found, rest = bytes(self.buffer).partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 200"):
                self.crowd.tally.error()
            self.buffer, self.started = bytearray(rest), True
        while (end := self.buffer.find(b"\n\n")) >= 0:
            event = bytes(self.buffer[:end])
            del self.buffer[:end + 2]
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self.crowd.tally.seen(self.client, line[5:].strip(), received)
                elif line.startswith(b"retry:"):
                    self.client.retry = int(line[6:]) / 1000

    def ended(self, received: float) -> None:
        if not self.started:
            self.crowd.tally.error()
        self.crowd.open(self.client, self.client.retry)


class Poll(Answer):
    """``GET /jobs/{id}?since=V&wait=25``, one connection per answer."""

    def request(self) -> bytes:
        return (f"GET /jobs/{self.client.job_id}?since={self.client.since}&wait=25 HTTP/1.0\r\n"
                f"Host: 127.0.0.1\r\n\r\n").encode()

    def data_received(self, data: bytes) -> None:
        self.buffer += data

    def ended(self, received: float) -> None:
        head, _, body = bytes(self.buffer).partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        after = next((float(line.split(b":", 1)[1]) for line in lines[1:] if line.lower().startswith(b"retry-after:")),
                     0.0)
        try:
            if not lines[0].startswith(b"HTTP/1.1 200"):
                raise ValueError(lines[0])
            self.crowd.tally.seen(self.client, body, received)
        except ValueError:  # refused, or cut before its whole body
            self.crowd.tally.error()
            after = after or 1.0
        self.crowd.open(self.client, after)


class Streams(Crowd):
    def protocol(self, client: Client) -> asyncio.Protocol:
        return Stream(self, client)


class Polls(Crowd):
    def protocol(self, client: Client) -> asyncio.Protocol:
        return Poll(self, client)


async def crowd(spec: dict[str, Any], tally: Tally) -> None:
    kind = Streams if spec["kind"] == "streams" else Polls
    clients = [Client(job_id, since) for job_id, since in spec["clients"]]
    people = kind(spec["port"], tally)
    for i, client in enumerate(clients):
        people.open(client, spec["ramp"] * i / len(clients))
    await asyncio.sleep(max(0.0, tally.end - time.time()))
    people.closing = True
    for transport in list(people.transports):
        transport.abort()


async def probe(spec: dict[str, Any], tally: Tally) -> None:
    request = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    await asyncio.sleep(max(0.0, tally.start - time.time()))
    while time.time() < tally.end:
        began = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
            writer.write(request)
            answer = await reader.read()
            writer.close()
        except OSError:
            tally.error()
            await asyncio.sleep(PROBE_EVERY)
            continue
        took = (time.perf_counter() - began) * 1000
        if not answer.startswith(b"HTTP/1.1 200"):
            tally.error()
        elif time.time() <= tally.end:
            tally.events += 1
            tally.latencies.append(round(took, 2))
        await asyncio.sleep(PROBE_EVERY)


def main() -> None:
    spec = json.load(sys.stdin)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tally = Tally(spec["start"], spec["end"])
    asyncio.run((probe if spec["kind"] == "probe" else crowd)(spec, tally))
    json.dump(tally.result(), sys.stdout)


if __name__ == "__main__":
    main()
