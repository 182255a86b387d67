"""Hostile input against the real server (``python -m lilqueue serve``) with a real worker:
schemathesis driven by ``GET {prefix}/openapi.json``, and hand-written nasty requests sent as
raw bytes. Never a 5xx (counted in the server's own request log, not just by the client), no
traceback in any log, and afterwards the data is intact and a normal job still runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests import engines
from tests.reliability.support import integrity, rows, stray_tracebacks, wait_until

REQUEST_LINE = re.compile(r'lilqueue\.web: \S+ "[^"]*" (\d{3}) ')
TRACEBACK = "Traceback (most recent call last)"


def server_statuses(log: str) -> list[int]:
    return [int(m.group(1)) for m in REQUEST_LINE.finditer(log)]


def send(base: str, data: bytes, timeout: float = 15.0) -> tuple[int | None, bytes]:
    """Send raw bytes; returns (status or None if the server closed without answering, body)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (e.g. 413) and closed: read what it said
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    if not answer.startswith(b"HTTP/"):
        return None, answer
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def http(method: str, path: str, body: bytes = b"", content_type: str | None = "application/json",
         headers: dict[str, str] | None = None, length: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if body or length is not None:
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def start(body: bytes | str, **options) -> bytes:
    return http("POST", "{P}/", body.encode() if isinstance(body, str) else body, **options)


def nasty_cases(done_id: str) -> list[tuple[str, bytes, set[int]]]:
    """(what, raw request, acceptable statuses). ``{P}`` stands for the prefix."""
    deep = "[" * 30_000 + "]" * 30_000
    deep_args = '{"task": "add", "args": [' + "[" * 900 + "]" * 900 + ", []]}"
    long_id = "A" * 10_000
    cases = [
        ("body over the limit", start(b'{"task": "add", "args": [' + b"1, " * 70_000 + b"1]}"), {413}),
        ("big body under the limit", start('{"task": "add", "args": [' + "1, " * 20_000 + "1]}"), {422}),
        ("deeply nested body", start(deep), {400}),
        ("900 levels of nesting in args", start(deep_args), {400, 422}),
        ("invalid UTF-8", start(b'{"task": "add", "args": [1, "\xff\xfe\xc3"]}'), {400}),
        ("NUL in the task name", start('{"task": "add\\u0000", "args": [1, 2]}'), {404}),
        ("raw NUL byte in a JSON string", start(b'{"task": "a\x00dd"}'), {400}),
        ("NUL inside an argument", start('{"task": "add", "args": ["a\\u0000", "b"]}'), {202}),
        ("lone surrogate in an argument", start('{"task": "add", "args": ["\\ud800", "x"]}'), {202}),
        ("lone surrogate in the key", start('{"task": "add", "args": [1, 2], "key": "\\udfff"}'), {422}),
        ("NUL in the key", start('{"task": "add", "args": [1, 2], "key": "a\\u0000b"}'), {422}),
        ("lone surrogate as the task", start('{"task": "\\ud800"}'), {404}),
        ("duplicate keys", start('{"task": "fail", "task": "add", "args": [1], "args": [1, 2]}'), {202}),
        ("unicode task name", start('{"task": "ταχύ"}'), {404}),
        ("emoji task name", start('{"task": "💥"}'), {404}),
        ("right-to-left override", start('{"task": "\\u202eadd"}'), {404}),
        ("combining accent", start('{"task": "add\\u0301"}'), {404}),
        ("10k-char task name", start('{"task": "' + "t" * 10_000 + '"}'), {404}),
        ("10k-char key", start('{"task": "add", "args": [1, 2], "key": "' + "k" * 10_000 + '"}'), {422}),
        ("unknown field", start('{"task": "add", "args": [1, 2], "owner": "root"}'), {400}),
        ("kwargs with dunder names", start('{"task": "add", "kwargs": {"a": 1, "b": 2, "__class__": 3}}'), {422}),
        ("huge integer", start('{"task": "add", "args": [' + "9" * 5000 + ", 1]}"), {400}),
        ("float overflow", start('{"task": "add", "args": [1e999, 1]}'), {400}),
        ("NaN literal", start('{"task": "add", "args": [NaN, 1]}'), {400}),
        ("JSON array body", start("[1, 2]"), {400}),
        ("JSON string body", start('"add"'), {400}),
        ("empty body", start(b"", length="0"), {400}),
        ("text/plain body", start('{"task": "add", "args": [1, 2]}', content_type="text/plain"), {415}),
        ("latin-1 charset", start('{"task": "add"}', content_type="application/json; charset=latin-1"), {415}),
        ("no content type", start('{"task": "add", "args": [1, 2]}', content_type=None), {415}),
        ("negative Content-Length", start(b"", length="-5"), {400}),
        ("Content-Length not a number", start(b"", length="abc"), {400}),
        ("Content-Length of 20 digits", start(b"", length="9" * 20), {400, 413}),
        ("chunked body", start(b"5\r\nhello\r\n0\r\n\r\n", headers={"Transfer-Encoding": "chunked"}), {400, 411}),
        ("cross-site form POST", start('{"task": "add", "args": [1, 2]}', content_type="application/json",
                                       headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}),
         {403}),
        ("10k-char id", http("GET", "{P}/" + long_id, content_type=None), {404}),
        ("10k-char id cancel", http("POST", "{P}/" + long_id + "/cancel", b"{}"), {404}),
        ("10k-char id events", http("GET", "{P}/" + long_id + "/events", content_type=None), {404}),
        ("70k-char URL", http("GET", "{P}/" + "A" * 70_000, content_type=None), {414, 404, 400}),
        ("percent-encoded NUL id", http("GET", "{P}/%00" + "A" * 21, content_type=None), {404}),
        ("path traversal", http("GET", "{P}/..%2F..%2Fetc%2Fpasswd", content_type=None), {404}),
        ("SQL in the id", http("GET", "{P}/'%20or%201=1--AAAAAAAAAA", content_type=None), {404}),
        ("invalid UTF-8 in the path", http("GET", "{P}/%ff%fe" + "A" * 20, content_type=None), {404}),
        ("PUT on the collection", http("PUT", "{P}/", b"{}"), {405}),
        ("DELETE a job", http("DELETE", "{P}/" + done_id, content_type=None), {405}),
        ("Last-Event-ID not a number", http("GET", "{P}/" + done_id + "/events", content_type=None,
                                            headers={"Last-Event-ID": "'; drop table task"}), {400}),
        ("100 query parameters", http("GET", "{P}/" + done_id + "?" + "&".join(f"p{i}=1" for i in range(100)),
                                      content_type=None), {200, 400}),
    ]
    for wait in ("-1", "NaN", "nan", "inf", "-inf", "1e308", "99999999999", "", "abc", "0x10", "1_000", "%00"):
        cases.append((f"wait={wait}", http("GET", "{P}/" + done_id + f"?since=0&wait={wait}", content_type=None),
                      {200, 400}))
    for since in ("-1", "1e3", "9" * 20, "", "NaN"):
        cases.append((f"since={since}", http("GET", "{P}/" + done_id + f"?since={since}&wait=1",
                                             content_type=None), {200, 400}))
    cases.append(("wait given twice", http("GET", "{P}/" + done_id + "?wait=1&wait=2", content_type=None), {200, 400}))
    return cases


class SlowLoris:
    """Clients that stall: one that never sends, one that stops halfway through its body, one that
    dribbles a valid body a byte at a time (slower than any real client, faster than the timeout)."""

    def __init__(self, base: str, prefix: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.silent = socket.create_connection(self.address)
        self.stalled = socket.create_connection(self.address)
        self.stalled.sendall(http("POST", prefix + "/", length="1000") + b'{"task": ')
        self.dribbled: tuple[int | None, bytes] | None = None
        self.closed = False
        body = b'{"task": "add", "args": [4, 5]}'
        self.thread = threading.Thread(target=self._dribble, args=(http("POST", prefix + "/", body),), daemon=True)
        self.thread.start()

    def _dribble(self, request: bytes) -> None:
        head, _, body = request.partition(b"\r\n\r\n")
        answer = b""
        try:
            with socket.create_connection(self.address, timeout=60) as sock:
                sock.sendall(head + b"\r\n\r\n")
                for byte in body:
                    if self.closed:
                        return
                    time.sleep(0.25)
                    sock.sendall(bytes([byte]))
                while chunk := sock.recv(65536):
                    answer += chunk
        except OSError as exc:
            self.dribbled = (None, repr(exc).encode())
            return
        head, _, rest = answer.partition(b"\r\n\r\n")
        self.dribbled = (int(head.split()[1]) if head.startswith(b"HTTP/") else None, rest)

    def close(self) -> None:
        self.closed = True
        self.silent.close()
        self.stalled.close()
        self.thread.join(10)

    def finish(self, timeout: float) -> tuple[bytes, bytes]:
        """Wait for the server to drop the stalled clients; returns what each received."""
        received = []
        for sock in (self.silent, self.stalled):
            sock.settimeout(timeout)
            try:
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            finally:
                sock.close()
            received.append(data)
        self.thread.join(timeout)
        return received[0], received[1]


def schemathesis_command() -> str | None:
    found = Path(sys.executable).parent / "st"
    return str(found) if found.exists() else shutil.which("st")


def test_a_fuzzer_driven_by_the_openapi_description_never_gets_a_5xx(queue, db_path, start_server, start_worker,
                                                                      long_form, tmp_path, figures):
    command = schemathesis_command()
    if command is None:
        message = "schemathesis is not installed (pip install schemathesis)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    worker = start_worker(2)
    server = start_server("debug")
    done = queue.wait(queue.start("add", args=[1, 2]).id, timeout=15)
    before = rows(db_path, "select * from lilqueue_job where id = ?", (done.id,))
    examples = "300" if long_form else "25"
    # An event stream on a job that never changes (a start delayed for a year) sends only
    # heartbeats: its status and first events come at once, and reading the rest for the whole
    # request timeout (which long-polls need, up to 25 s) cost half a minute per stream.
    config = tmp_path / "schemathesis.toml"
    config.write_text('[[operations]]\ninclude-operation-id = "jobEvents"\nrequest-timeout = 5.0\n')
    ran = subprocess.run(
        [command, "--config-file", str(config), "run", f"{server.base}{server.prefix}/openapi.json",
         "--checks", "not_a_server_error",
         "--max-examples", examples, "--seed", "5", "--request-timeout", "30", "--generation-database", "none",
         "--workers", "1", "--no-color", "--max-failures", "20"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    log = server.output()
    statuses = server_statuses(log)
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-2000:] + "\nserver log:\n" + "\n".join(
        line for line in log.splitlines() if "answering 5" in line or "rror" in line)[-4000:]
    assert len(statuses) > 100 and not [s for s in statuses if s >= 500]
    assert TRACEBACK not in log and stray_tracebacks(worker.output()) == []
    assert worker.process.poll() is None
    assert rows(db_path, "select * from lilqueue_job where id = ?", (done.id,)) == before
    assert integrity(db_path) == "ok"
    assert queue.wait(queue.start("add", args=[2, 2]).id, timeout=15).result == 4
    summary = re.search(r"(\d+) generated", ran.stdout)
    figures.update(fuzzer="schemathesis", cases_generated=int(summary.group(1)) if summary else None,
                   requests_served=len(statuses), statuses=count(statuses), responses_5xx=0, tracebacks=0)


def count(statuses: list[int]) -> dict[str, int]:
    found: dict[str, int] = {}
    for status in statuses:
        found[str(status)] = found.get(str(status), 0) + 1
    return dict(sorted(found.items()))


def test_hand_written_nasty_requests_and_slow_clients_never_get_a_5xx_or_block_others(
        queue, db_path, start_server, start_worker, figures, request):
    from lilqueue.web import server as server_module

    worker = start_worker(2)
    server = start_server("debug")
    prefix = server.prefix
    done = queue.wait(queue.start("add", args=[1, 2]).id, timeout=15)
    before = rows(db_path, "select * from lilqueue_job where id = ?", (done.id,))
    loris = SlowLoris(server.base, prefix)
    request.addfinalizer(loris.close)
    began = time.monotonic()

    wrong: list[str] = []
    answered = 0
    for what, raw, expected in nasty_cases(done.id):
        status, body = send(server.base, raw.replace(b"{P}", prefix.encode()))
        answered += 1
        if status not in expected:
            wrong.append(f"{what}: {status} {body[:200]!r}")
        if status is not None and status >= 400 and status != 414:
            problem = json.loads(body)
            assert problem["status"] == status and "type" in problem and "Traceback" not in body.decode(), what
    assert wrong == []

    # Other clients are served at once while the slow ones hold their connections.
    for _ in range(5):
        t = time.perf_counter()
        status, _ = send(server.base, http("GET", prefix + "/tasks", content_type=None))
        assert status == 200 and time.perf_counter() - t < 2.0

    silent, stalled = loris.finish(timeout=server_module.SOCKET_TIMEOUT + 15)
    dropped_after = time.monotonic() - began
    assert silent == b""
    assert stalled.startswith(b"HTTP/1.0 408")
    assert loris.dribbled is not None and loris.dribbled[0] == 202
    dribbled_job = json.loads(loris.dribbled[1])["id"]
    assert queue.wait(dribbled_job, timeout=15).result == 9

    log = server.output()
    statuses = server_statuses(log)
    assert not [s for s in statuses if s >= 500], count(statuses)
    assert TRACEBACK not in log and stray_tracebacks(worker.output()) == []
    assert worker.process.poll() is None
    wait_until(lambda: rows(db_path, "select count(*) from lilqueue_job where state in ('queued', 'running')")
               [0][0] == 0, timeout=30, what="every job terminal")
    assert rows(db_path, "select * from lilqueue_job where id = ?", (done.id,)) == before
    assert integrity(db_path) == "ok"
    assert queue.wait(queue.start("add", args=[2, 2]).id, timeout=15).result == 4
    figures.update(nasty_requests=answered, slow_clients=3, slow_clients_dropped_after_s=round(dropped_after, 1),
                   statuses=count(statuses), responses_5xx=0, tracebacks=0)


def test_arguments_nested_too_deeply_for_the_queue_message_are_refused_before_anything_is_written(queue, db_path):
    import lilqueue

    deep: list = []
    for _ in range(900):
        deep = [deep]
    with pytest.raises(lilqueue.InvalidArguments):
        queue.start("add", args=[deep, []])
    with pytest.raises(lilqueue.InvalidArguments):
        queue.start("add", args=[1, 2], key="\udfff")
    assert rows(db_path, "select count(*) from lilqueue_job")[0][0] == 0
    assert rows(db_path, f"select count(*) from {engines.huey_table(db_path, 'task')}")[0][0] == 0
