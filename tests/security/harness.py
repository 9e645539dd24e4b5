"""Cases, areas and the checks they make.

A case is a function of the world (the running servers) that returns what it saw, in a
few words, or raises [`Fail`] saying what it saw instead. Every check names the exact
refusal (status, OAuth `error`, JSON-RPC code, header), and a case about an attacker
getting nothing also shows, in the same setup, that an honest request still works: a
server that refused everything would fail it.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from wire import Answer


class Fail(Exception):
    """A case saw something other than what must happen."""


@dataclass
class Later:
    """What a case returns when its check must wait (a code's 60 s lifetime): the runner
    calls `check` after `seconds`, at the end of the run, and reports it under the case."""

    seconds: float
    check: Callable[[], str]


# A case: the world in, what it saw (or a check for later) out.
CaseFn = Callable[[Any], "str | Later"]


@dataclass
class Case:
    area: str
    name: str
    run: CaseFn


@dataclass
class Area:
    name: str
    title: str
    # Runs after every other area (and the deferred checks): it stops main.
    closing: bool = False
    cases: list[Case] = field(default_factory=list)

    def case(self, name: str) -> Callable[[CaseFn], CaseFn]:
        """Registers the function below as the case `name` (what must hold)."""

        def register(fn: CaseFn) -> CaseFn:
            self.cases.append(Case(self.name, name, fn))
            return fn

        return register


@dataclass
class Outcome:
    case: Case
    passed: bool
    saw: str
    seconds: float
    later: Later | None = None


def run_case(case: Case, world: Any) -> Outcome:
    start = time.monotonic()
    try:
        saw = case.run(world)
        if isinstance(saw, Later):
            return Outcome(case, True, "", 0.0, saw)
        passed = True
    except Fail as failure:
        saw, passed = str(failure), False
    except Exception as error:  # noqa: BLE001 - a crash of the case is its failure
        lines = traceback.format_exception_only(type(error), error)
        saw, passed = "error: " + " ".join(" ".join(lines).split())[:600], False
    return Outcome(case, passed, saw, time.monotonic() - start)


def squeeze(text: Any, limit: int = 220) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- checks: each returns a short description of what it saw, or raises Fail ----


def expect(condition: bool, saw: Any) -> str:
    if not condition:
        raise Fail(squeeze(saw, 600))
    return squeeze(saw)


def status(answer: Answer, *wanted: int) -> str:
    if answer.status not in wanted:
        raise Fail(f"expected {'/'.join(map(str, wanted))}, got {answer.brief(400)}")
    return f"{answer.status}"


def oauth_error(answer: Answer, code: int, error: str, *, says: str | None = None) -> str:
    """A JSON OAuth error: status `code`, `error`, and `says` in its description."""
    body = answer.json() or {}
    description = body.get("error_description", "") if isinstance(body, dict) else ""
    ok = answer.status == code and isinstance(body, dict) and body.get("error") == error
    if says is not None:
        ok = ok and says.lower() in description.lower()
    if not ok:
        raise Fail(f"expected {code} {error}" + (f" saying {says!r}" if says else "") + f", got {answer.brief(400)}")
    if answer.header("cache-control") != "no-store":
        raise Fail(f"{code} {error} without Cache-Control: no-store")
    return squeeze(f"{code} {error}: {description}")


def rpc_error(answer: Answer, http: int, code: int, *, says: str | None = None) -> str:
    """A JSON-RPC error answer: HTTP status `http`, error `code`, `says` in its message."""
    message = answer.json()
    error = (message or {}).get("error") if isinstance(message, dict) else None
    text = (error or {}).get("message", "") if isinstance(error, dict) else ""
    ok = answer.status == http and isinstance(error, dict) and error.get("code") == code
    if says is not None:
        ok = ok and says.lower() in text.lower()
    if not ok:
        raise Fail(f"expected {http} with JSON-RPC {code}" + (f" saying {says!r}" if says else "")
                   + f", got {answer.brief(400)} (content-type {answer.header('content-type')})")
    return squeeze(f"{http} {code}: {text}")


def challenge(answer: Answer, http: int, error: str | None, *, says: str | None = None) -> str:
    """An RFC 6750 refusal: status, `WWW-Authenticate: Bearer error=…` with resource_metadata."""
    header = answer.header("www-authenticate") or ""
    ok = answer.status == http and header.startswith("Bearer ") and "resource_metadata=" in header
    if error:
        ok = ok and f'error="{error}"' in header
    if says is not None:
        ok = ok and says.lower() in header.lower()
    if not ok:
        raise Fail(f"expected {http} Bearer {error or ''}" + (f" saying {says!r}" if says else "")
                   + f", got {answer.status} WWW-Authenticate: {header!r} {answer.brief(200)}")
    found = header.split("error_description=", 1)
    return squeeze(f"{http} {error or 'challenge'}" + (f": {found[1]}" if len(found) > 1 else ""))


def tool_text(answer: Answer, *needles: str) -> str:
    """A tool result (not an error, not isError) whose text holds every needle."""
    message = answer.json() or {}
    result = message.get("result") if isinstance(message, dict) else None
    text = " ".join(c.get("text", "") for c in (result or {}).get("content", []) if isinstance(c, dict))
    ok = answer.status == 200 and isinstance(result, dict) and not result.get("isError")
    ok = ok and all(n in text for n in needles)
    if not ok:
        raise Fail(f"expected a tool result with {needles}, got {answer.brief(400)}")
    return squeeze(f"200 result: {text}", 120)
