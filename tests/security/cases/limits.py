"""HTTP limits of `belay up` (main's belay.toml: bodies of 256 KiB, 2 s to send a body or
a head, 24 connections per address): what is too big, too slow or too many is refused
with a status that says so, while others are served; malformed bodies get JSON-RPC errors."""

from __future__ import annotations

import select
import socket
import time

from harness import Area, expect, rpc_error
from mcp import ACCEPT, Session
from wire import connect, head_bytes, read_until_closed, request, split_url, status_of

AREA = Area("limits", "body and header sizes, slow bodies and heads, connection floods, malformed JSON")
case = AREA.case

MAX_BODY, BODY_SECS, MAX_CONNECTIONS = 262144, 2, 24


def alice(w) -> Session:
    def make() -> Session:
        s = Session(w.main.mcp, w.token("alice", w.main.mcp))
        s.initialize()
        return s

    return w.kept("limits:alice", make)


def served(w, source: str = "127.0.0.1") -> None:
    answer = request(f"{w.base}/.well-known/oauth-authorization-server", source=source)
    expect(answer.status == 200, f"an honest request from {source} is served: {answer.brief()}")


def open_head(w, path: str, headers: list[tuple[str, str]], length: int, source: str) -> socket.socket:
    """A connection that sent a request head announcing `length` body bytes, and 1 of them."""
    host, port, _ = split_url(w.base)
    sock = connect(host, port, source)
    head = head_bytes("POST", path, f"{host}:{port}", headers, length)
    sock.sendall(head + b"{")
    return sock


@case("a body over max_body_bytes gets 413 naming the limit, and the connection is closed")
def _(w):
    s = alice(w)
    answer = s.post(None, raw=b"[" + b"1," * (MAX_BODY // 2) + b"1]")
    saw = rpc_error(answer, 413, -32600, says="max_body_bytes")
    expect(answer.header("connection") == "close", f"Connection: {answer.header('connection')}")
    expect(bool(s.tools()), "the session carries on")
    return saw


@case("a chunked body that grows past the limit without announcing its size gets 413")
def _(w):
    s = alice(w)
    host, port, path = split_url(w.main.mcp)
    sock = connect(host, port, "127.0.0.9")
    headers = s.headers() + [("Transfer-Encoding", "chunked")]
    sock.sendall(head_bytes("POST", path, f"{host}:{port}", headers, None))
    chunk = b"[" * 65536
    try:
        for _ in range(5):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server may close once it has refused
    raw, _, _ = read_until_closed(sock, 5)
    sock.close()
    expect(status_of(raw) == 413 and b"max_body_bytes" in raw, f"{raw[:300]!r}")
    return "413: " + raw.split(b"message", 1)[-1][3:100].decode(errors="replace")


@case("without a token, a huge body is refused 413 at once and never read")
def _(w):
    sock = open_head(w, "/mcp", [("Content-Type", "application/json"), ACCEPT], 50 * 1024 * 1024, "127.0.0.9")
    raw, _, took = read_until_closed(sock, 5)
    sock.close()
    expect(status_of(raw) == 413 and b"max_body_bytes" in raw and took < 1.5, f"{raw[:200]!r} after {took:.1f} s")
    return f"413 after {took:.2f} s"


@case("without a token, a small body that never comes is refused 401 at once, unread")
def _(w):
    sock = open_head(w, "/mcp", [("Content-Type", "application/json"), ACCEPT], 100, "127.0.0.9")
    raw, _, took = read_until_closed(sock, 5)
    sock.close()
    expect(status_of(raw) == 401 and b"resource_metadata" in raw and took < 1.5, f"{raw[:200]!r} after {took:.1f} s")
    return f"401 after {took:.2f} s"


@case("signed in, a body announced over the limit is refused 413 at once, before sign-in reads it")
def _(w):
    s = alice(w)
    _, _, path = split_url(w.main.mcp)
    sock = open_head(w, path, s.headers(), MAX_BODY + 1, "127.0.0.9")
    raw, _, took = read_until_closed(sock, BODY_SECS + 3)
    sock.close()
    expect(status_of(raw) == 413 and b"max_body_bytes" in raw and took < 1.5, f"{raw[:200]!r} after {took:.1f} s")
    served(w, "127.0.0.9")
    return f"413 after {took:.2f} s"


STALLED = [
    ("/mcp", "json+token", 408),
    ("/token", "form", 408),
    ("/authorize", "form", 408),
    ("/register", "json", 408),
    ("/revoke", "form", 408),
]


@case(f"bodies that never arrive get 408 after {BODY_SECS} s and are closed, on every route; others are served")
def _(w):
    kinds = {
        "form": [("Content-Type", "application/x-www-form-urlencoded")],
        "json": [("Content-Type", "application/json")],
        "json+token": alice(w).headers(),
    }
    started = time.monotonic()
    socks = [(path, code, open_head(w, path, kinds[kind], 100, "127.0.0.10")) for path, kind, code in STALLED]
    served(w)
    seen = []
    for path, code, sock in socks:
        raw, closed, _ = read_until_closed(sock, 10)
        sock.close()
        expect(status_of(raw) == code and closed and b"request_timeout_secs" in raw,
               f"{path}: {raw[:300]!r} closed={closed}")
        seen.append(path)
    took = time.monotonic() - started
    expect(took >= BODY_SECS - 0.3, f"answered after {took:.1f} s, before the deadline")
    return f"408 and closed after {took:.1f} s on {', '.join(seen)}; a request meanwhile: 200"


@case(f"a head dribbled in byte by byte is cut off after {BODY_SECS} s")
def _(w):
    host, port, _ = split_url(w.base)
    sock = connect(host, port, "127.0.0.11")
    sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    started, closed = time.monotonic(), False
    while time.monotonic() - started < 8:
        try:
            sock.sendall(b"a")
        except OSError:
            closed = True
            break
        got, closed, _ = read_until_closed(sock, 0.4)
        if closed:
            break
    took = time.monotonic() - started
    sock.close()
    expect(closed and took < BODY_SECS + 2.5, f"still open after {took:.1f} s")
    served(w, "127.0.0.11")
    return f"closed after {took:.1f} s"


@case("headers over max_header_bytes get 431 naming the limit")
def _(w):
    s = alice(w)
    answer = s.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, extra=[("X-Padding", "a" * 20000)])
    saw = rpc_error(answer, 431, -32600, says="max_header_bytes")
    expect(bool(s.tools()), "the session carries on")
    return saw


@case("a head far over the limit is cut off by the server loop with 431")
def _(w):
    host, port, path = split_url(w.main.mcp)
    head = head_bytes("GET", path, f"{host}:{port}", [("X-Padding", "a" * 60000)], None)
    sock = connect(host, port, "127.0.0.12")
    try:
        sock.sendall(head)
    except OSError:
        pass
    raw, closed, _ = read_until_closed(sock, 5)
    sock.close()
    expect(status_of(raw) == 431 and closed, f"{raw[:200]!r} closed={closed}")
    served(w, "127.0.0.12")
    return "431, closed"


@case(f"a connection flood from one address is capped at {MAX_CONNECTIONS} (503); another address is served")
def _(w):
    host, port, _ = split_url(w.base)
    flood = [connect(host, port, "127.0.0.13") for _ in range(MAX_CONNECTIONS + 1)]
    try:
        served(w, "127.0.0.14")
        # Whichever connection the server took last is over the cap: it alone is answered
        # (the others wait for a request head, and are closed after 2 s without one).
        answered, waiting = [], list(flood)
        deadline = time.monotonic() + 5
        while waiting and not answered and time.monotonic() < deadline:
            ready, _, _ = select.select(waiting, [], [], 0.2)
            for sock in ready:
                waiting.remove(sock)
                raw, _, _ = read_until_closed(sock, 1)
                if raw:
                    answered.append(raw)
        expect(len(answered) == 1 and status_of(answered[0]) == 503
               and b"max_connections_per_address" in answered[0] and b"Retry-After" in answered[0],
               f"answers to the flood: {[a[:200] for a in answered]}")
    finally:
        for sock in flood:
            sock.close()
    time.sleep(0.2)
    served(w, "127.0.0.13")
    return f"one of {MAX_CONNECTIONS + 1}: 503 with Retry-After, closed; 127.0.0.14 served meanwhile; after closing, 127.0.0.13 too"


@case("a request with both Content-Length and Transfer-Encoding is refused, not smuggled")
def _(w):
    host, port, _ = split_url(w.base)
    smuggled = (b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock = connect(host, port, "127.0.0.15")
    sock.sendall(smuggled)
    raw, closed, _ = read_until_closed(sock, 5)
    sock.close()
    answers = raw.count(b"HTTP/1.1 ")
    expect(status_of(raw) == 400 and answers == 1 and closed, f"{answers} answers: {raw[:300]!r}")
    served(w, "127.0.0.15")
    return "400 and closed: the second request was never read"


def nested(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


MALFORMED = [
    ("200 nested arrays", nested(200).encode(), -32700),
    ("200 nested arrays inside a tool call",
     ('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"matheval__evaluate","arguments":'
      '{"expression":%s}}}' % nested(200, "1")).encode(), -32700),
    ("invalid UTF-8 in a string", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\xff\xfe\xc3"}}', -32700),
    ("a lone surrogate escape", b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}', -32700),
    ("truncated JSON", b'{"jsonrpc":"2.0","id":1,"method":', -32700),
    ("an empty body", b"", -32700),
    ("trailing garbage", b'{"jsonrpc":"2.0","id":1,"method":"ping"} x', -32700),
    ("a bare number", b"42", -32600),
    ("a method that is a number", b'{"jsonrpc":"2.0","id":1,"method":42}', -32600),
    ("JSON-RPC 1.0", b'{"jsonrpc":"1.0","id":1,"method":"ping"}', -32600),
]

for label, body, code in MALFORMED:

    @case(f"malformed body on /mcp: {label} gets 400 with {code}")
    def _(w, body=body, code=code):
        s = alice(w)
        saw = rpc_error(s.post(None, raw=body), 400, code)
        expect(bool(s.tools()), "the session carries on")
        return saw
