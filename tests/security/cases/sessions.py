"""MCP sessions belong to whoever opened them: another person's token (or the same person
through another app) naming a session id gets the 404 of a session that does not exist,
on POST, GET and DELETE, and the owner's session carries on; the owner's DELETE answers
200 or 204 and ends it."""

from __future__ import annotations

import json

from harness import Area, Fail, expect, status
from mcp import LegacySse, Session, initialize_message, rpc
from wire import request

AREA = Area("sessions", "session ids are bound to the principal that opened them")
case = AREA.case


def alice_session(w, url: str) -> Session:
    session = Session(url, w.token("alice", url))
    session.initialize()
    return session


def still_works(session: Session) -> None:
    tools = session.tools()
    expect(bool(tools), "the owner's session no longer lists tools")


def unknown_answer(url: str, token: str, method: str):
    """What `token` is told for a session id that never existed."""
    probe = Session(url, token)
    if method == "POST":
        return probe.post(rpc("tools/list", id=7), session="no-such-session")
    if method == "GET":
        return probe.get("no-such-session")
    return probe.delete("no-such-session")


def intrude(w, url: str, method: str, thief: str) -> str:
    owner = alice_session(w, url)
    attacker = Session(url, thief)
    if method == "POST":
        answer = attacker.post(rpc("tools/list", id=7), session=owner.id)
    elif method == "GET":
        answer = attacker.get(owner.id)
    else:
        answer = attacker.delete(owner.id)
    unknown = unknown_answer(url, thief, method)
    if answer.status != 404:
        raise Fail(f"{method} with another person's token into a session: {answer.brief(200)} (want 404)")
    expect(answer.body == unknown.body, f"the 404 tells the session exists: {answer.text!r} vs {unknown.text!r}")
    still_works(owner)
    return "404, the same answer as for a session that never existed; the owner's session carries on"


for path in ("/mcp", "/servers/weather/mcp"):
    for method in ("POST", "GET", "DELETE"):

        @case(f"{method} into another person's session at {path} is 404")
        def _(w, path=path, method=method):
            return intrude(w, w.base + path, method, w.token("bob", w.base + path))


@case("the same person through another app cannot use the session either")
def _(w):
    url = w.main.mcp
    other_app = w.tokens("alice", url, w.client("second app"))["access_token"]
    return intrude(w, url, "POST", other_app)


@case("a session id that never existed is 404")
def _(w):
    answer = unknown_answer(w.main.mcp, w.token("alice", w.main.mcp), "POST")
    status(answer, 404)
    still_works(alice_session(w, w.main.mcp))
    return f"404 {answer.text[:80]}"


@case("legacy SSE: another person's token cannot post into a session")
def _(w):
    url = w.base + "/sse"
    stream = LegacySse(url, w.token("alice", url))
    try:
        status(stream.head, 200)
        endpoint = stream.endpoint()
        body = json.dumps(initialize_message("2024-11-05")).encode()
        post = lambda token, target: request(target, "POST", body=body, headers=[  # noqa: E731
            ("Content-Type", "application/json"), ("Authorization", f"Bearer {token}")])
        bob = w.token("bob", url)
        intruded = post(bob, endpoint)
        unknown = post(bob, f"{w.base}/messages?sessionId=no-such-session")
        if intruded.status != 404:
            raise Fail(f"bob's POST into alice's SSE session: {intruded.brief()} (want 404)")
        expect(intruded.body == unknown.body, "the 404 tells the session exists")
        status(post(w.token("alice", url), endpoint), 202)
        return "404 for bob; alice's own POST: 202"
    finally:
        stream.close()


@case("DELETE of one's own session answers 200 or 204 and ends it")
def _(w):
    session = alice_session(w, w.main.mcp)
    answer = session.delete()
    after = session.post(rpc("tools/list", id=9))
    if answer.status not in (200, 204):
        raise Fail(f"DELETE answered {answer.brief()}; clients print an error for anything but 200/204")
    status(after, 404)
    return f"{answer.status}; the session is gone (404)"
