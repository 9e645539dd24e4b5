"""A bare MCP client over Streamable HTTP (handshake era, 2025-11-25) and legacy SSE: enough
to open a session, list and call tools, and send what an attacker would, byte for byte.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from wire import Answer, Reader, connect, head_bytes, read_until_closed, request, split_url

PROTOCOL = "2025-11-25"
ACCEPT = ("Accept", "application/json, text/event-stream")


def rpc(method: str, params: dict[str, Any] | None = None, id: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    return message


def initialize_message(version: str = PROTOCOL) -> dict[str, Any]:
    return rpc("initialize", {"protocolVersion": version, "capabilities": {},
                              "clientInfo": {"name": "belay-security", "version": "0"}})


class Session:
    """One client's view of a Streamable HTTP endpoint, with `token` (or none)."""

    def __init__(self, url: str, token: str | None = None, source: str | None = None) -> None:
        self.url = url
        self.token = token
        self.source = source
        self.id: str | None = None
        self.next_id = 1

    def headers(self, session: str | None = None, extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        pairs = [("Content-Type", "application/json"), ACCEPT]
        if not any(k.lower() == "mcp-protocol-version" for k, _ in extra or []):
            pairs.append(("MCP-Protocol-Version", PROTOCOL))
        if self.token:
            pairs.append(("Authorization", f"Bearer {self.token}"))
        sid = session if session is not None else self.id
        if sid:
            pairs.append(("Mcp-Session-Id", sid))
        return pairs + list(extra or [])

    def post(self, message: Any, *, session: str | None = None, raw: bytes | None = None,
             extra: list[tuple[str, str]] | None = None, url: str | None = None, timeout: float = 15) -> Answer:
        body = raw if raw is not None else json.dumps(message).encode()
        return request(url or self.url, "POST", headers=self.headers(session, extra), body=body, source=self.source,
                       timeout=timeout)

    def initialize(self) -> Answer:
        """Opens a session; raises unless the server answered with one."""
        answer = self.post(initialize_message(), session="")
        sid = answer.header("mcp-session-id")
        if answer.status != 200 or not sid:
            raise RuntimeError(f"initialize at {self.url}: {answer.brief()}")
        self.id = sid
        self.post(rpc("notifications/initialized", id=None))
        return answer

    def ask(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Answer:
        self.next_id += 1
        return self.post(rpc(method, params, self.next_id), **kw)

    def call(self, name: str, arguments: dict[str, Any] | None = None, **kw: Any) -> Answer:
        return self.ask("tools/call", {"name": name, "arguments": arguments or {}}, **kw)

    def tools(self) -> list[str]:
        answer = self.ask("tools/list")
        message = answer.json() or {}
        return [t["name"] for t in message.get("result", {}).get("tools", [])]

    def get(self, session: str | None = None) -> Answer:
        return request(self.url, "GET", headers=self.headers(session), source=self.source)

    def delete(self, session: str | None = None) -> Answer:
        return request(self.url, "DELETE", headers=self.headers(session), source=self.source)


class LegacySse:
    """A 2024-11-05 client: GET /sse (kept open), then POSTs to the endpoint it names."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.token = token
        host, port, path = split_url(url)
        self.base = url[: url.index("/", len("http://"))]
        self.sock: socket.socket = connect(host, port)
        headers = [("Accept", "text/event-stream")]
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        self.sock.sendall(head_bytes("GET", path, f"{host}:{port}", headers, None))
        self.reader = Reader(self.sock)
        self.head = self.reader.head()
        self.seen = b""

    def endpoint(self, limit_s: float = 10) -> str:
        """The `endpoint` event's URL (absolute)."""
        self.seen += self.reader.buf
        self.reader.buf = b""
        while b"sessionId=" not in self.seen or b"\n\n" not in self.seen[self.seen.index(b"sessionId="):]:
            got, closed, _ = read_until_closed(self.sock, limit_s)
            self.seen += got
            if closed or not got:
                break
        for line in self.seen.decode("utf-8", "replace").splitlines():
            if line.startswith("data:") and "sessionId=" in line:
                path = line[5:].strip()
                return path if path.startswith("http") else self.base + path
        raise RuntimeError(f"no endpoint event: {self.seen[:300]!r}")

    def close(self) -> None:
        self.sock.close()
