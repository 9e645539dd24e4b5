"""HTTP/1.1 over plain sockets, so a case controls every byte an attacker would: repeated
headers, a chosen source address (127.0.0.2 and up are loopback too, and count as other
clients), bodies that never arrive, heads dribbled in, connections held open.

Each request opens its own connection and sends `Connection: close`, unless the case keeps
the socket. Event-stream answers are read until the JSON-RPC answer they carry has come (a
POST's stream), or not at all (a GET's stream stays open: only its head is read).
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_S = 15.0


class NoAnswer(Exception):
    """The server closed the connection, or said nothing in time, before a whole answer."""


@dataclass
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # True when the body is an event stream the reader left open (a GET's stream).
    streaming: bool = False

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; for an event stream, the first `data:` event that is JSON."""
        if (self.header("content-type") or "").startswith("text/event-stream"):
            for data in sse_data(self.text):
                try:
                    return json.loads(data)
                except ValueError:
                    continue
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def brief(self, limit: int = 160) -> str:
        text = " ".join(self.text.split())
        return f"{self.status} {text[:limit]}"


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of an event stream, one per event."""
    events, current = [], []
    for line in text.splitlines():
        if line.startswith("data:"):
            current.append(line[5:].lstrip())
        elif not line.strip() and current:
            events.append("\n".join(current))
            current = []
    if current:
        events.append("\n".join(current))
    return events


def split_url(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname or "127.0.0.1", parts.port or 80, path


def connect(host: str, port: int, source: str | None = None, timeout: float = TIMEOUT_S) -> socket.socket:
    """A TCP connection to host:port, from `source` (e.g. "127.0.0.2") if given."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if source:
        sock.bind((source, 0))
    sock.connect((host, port))
    return sock


def head_bytes(method: str, path: str, host: str, headers: list[tuple[str, str]], body_len: int | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body_len is not None:
        lines.append(f"Content-Length: {body_len}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Reader:
    """Reads one HTTP/1.1 answer from a socket."""

    def __init__(self, sock: socket.socket, limit_s: float = TIMEOUT_S) -> None:
        self.sock = sock
        self.buf = b""
        self.eof = False
        # Event streams send keep-alive comments, so a socket timeout alone never fires.
        self.deadline = time.monotonic() + limit_s

    def _fill(self) -> bool:
        if self.eof:
            return False
        if time.monotonic() > self.deadline:
            raise NoAnswer(f"no complete answer in time; got {self.buf[:200]!r}")
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self._fill():
                raise NoAnswer(f"connection closed before {marker!r}; got {self.buf[:200]!r}")
        index = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:index], self.buf[index:]
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise NoAnswer(f"connection closed after {len(self.buf)} of {n} body bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def head(self) -> Answer:
        raw = self.until(b"\r\n\r\n").decode("latin-1")
        lines = raw.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise NoAnswer(f"not an HTTP answer: {lines[0]!r}")
        headers = []
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.append((k.strip().lower(), v.strip()))
        return Answer(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)

    def chunks(self):
        """Decoded chunks of a chunked body, as they arrive."""
        while True:
            size_line = self.until(b"\r\n").split(b";")[0].strip()
            size = int(size_line or b"0", 16)
            if size == 0:
                return
            data = self.exactly(size)
            self.exactly(2)
            yield data


def read_answer(sock: socket.socket, method: str, limit_s: float = TIMEOUT_S) -> Answer:
    """One answer from `sock`: its head, and its body unless it is a GET's event stream."""
    reader = Reader(sock, limit_s)
    answer = reader.head()
    event_stream = (answer.header("content-type") or "").startswith("text/event-stream")
    if method == "HEAD" or answer.status in (204, 304) or 100 <= answer.status < 200:
        return answer
    if event_stream and method == "GET":
        answer.streaming = True
        return answer
    chunked = "chunked" in (answer.header("transfer-encoding") or "").lower()
    length = answer.header("content-length")
    if chunked:
        body = b""
        for chunk in reader.chunks():
            body += chunk
            # A POST's stream ends with the JSON-RPC answer; do not wait for more.
            if event_stream and _has_answer(body):
                break
        answer.body = body
    elif length is not None:
        answer.body = reader.exactly(int(length))
    else:
        answer.body = reader.rest()
    return answer


def _has_answer(body: bytes) -> bool:
    for data in sse_data(body.decode("utf-8", "replace")):
        try:
            message = json.loads(data)
        except ValueError:
            continue
        if isinstance(message, dict) and "id" in message and ("result" in message or "error" in message):
            return True
    return False


def request(
    url: str,
    method: str = "GET",
    *,
    headers: list[tuple[str, str]] | dict[str, str] | None = None,
    body: bytes | str | None = None,
    source: str | None = None,
    host_header: str | None = None,
    timeout: float = TIMEOUT_S,
) -> Answer:
    """One request on a fresh connection. `headers` may repeat a name (a list of pairs)."""
    host, port, path = split_url(url)
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    data = body.encode() if isinstance(body, str) else body
    if data is None and method in ("POST", "PUT", "DELETE"):
        data = b""
    sock = connect(host, port, source, timeout)
    try:
        sock.sendall(head_bytes(method, path, host_header or f"{host}:{port}", pairs, None if data is None else len(data)))
        if data:
            sock.sendall(data)
        return read_answer(sock, method, timeout)
    finally:
        sock.close()


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, bool, float]:
    """What the server sends on `sock` within `limit_s`, whether it then closed, and when."""
    start = time.monotonic()
    got = b""
    while True:
        left = limit_s - (time.monotonic() - start)
        if left <= 0:
            return got, False, time.monotonic() - start
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return got, False, time.monotonic() - start
        except (ConnectionResetError, BrokenPipeError):
            return got, True, time.monotonic() - start
        if not chunk:
            return got, True, time.monotonic() - start
        got += chunk


def status_of(raw: bytes) -> int | None:
    line = raw.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
