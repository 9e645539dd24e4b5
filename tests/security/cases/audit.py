"""The audit log, read after main stops: every call recorded once with who, what and the
decision; oversized arguments cut to a marker with their size and hash; `belay audit
verify` passes, and names an edited record, a deleted one and a cut tail. Also: a clean
stop logs no ERROR line."""

from __future__ import annotations

import hashlib
import json
import secrets

from harness import Area, Fail, expect, tool_text, rpc_error
from mcp import Session

AREA = Area("audit", "the audit log: every call, cut fields, verify against edits and cut tails", closing=True)
case = AREA.case


def records(w) -> list[dict]:
    path = w.main.data / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def args(record: dict) -> dict:
    """A record's arguments, or {} when they were cut to a string as a whole."""
    arguments = record.get("arguments")
    return arguments if isinstance(arguments, dict) else {}


def verify(w):
    return w.main.cli("audit", "verify", "--json")


class Marked:
    """Calls made with arguments no other case uses, so their records can be found."""

    def __init__(self, w) -> None:
        self.tag = secrets.token_hex(4)
        self.expression = f"{int(self.tag, 16) % 9973}+1"
        self.denied_symbol = "Z" + self.tag.upper()[:4]
        self.long_city = "Atlantis-" + self.tag + "-" + "x" * 5000
        self.wide = {f"field{i}-{self.tag}": "y" * 900 for i in range(20)}
        self.secret = f"s3cr3t-{self.tag}-value"
        self.api_key = f"sk-live-{self.tag}{'A' * 24}"
        self.token = ""


def calls(w) -> Marked:
    """Makes the marked calls once (while main runs) and stops main so the log is complete."""
    if not hasattr(w, "audit_marks"):
        marks = Marked(w)
        marks.token = w.token("alice", w.main.mcp)
        s = Session(w.main.mcp, marks.token)
        s.initialize()
        tool_text(s.call("matheval__evaluate", {"expression": marks.expression}))
        rpc_error(s.call("stock__get_investment_advice", {"symbol": marks.denied_symbol}), 200, -32001)
        s.call("weather__get_weather", {"city": marks.long_city})
        s.call("weather__get_weather", {"city": "Paris", **marks.wide})
        s.call("weather__get_weather", {"city": f"Oslo-{marks.tag}", "password": marks.secret,
                                        "note": f"key {marks.api_key}, auth Bearer {marks.token}"})
        w.audit_marks = marks
        w.stop_main()
    return w.audit_marks


def only(found: list[dict], what: str) -> dict:
    if len(found) != 1:
        raise Fail(f"{len(found)} records of {what}: {[json.dumps(r)[:200] for r in found]}")
    return found[0]


@case("every call is recorded once, with the person, the client, the tool and the decision")
def _(w):
    marks = calls(w)
    all_records = records(w)
    alice = w.person("alice").sub
    allowed = only([r for r in all_records if args(r).get("expression") == marks.expression],
                   "the allowed call")
    denied = only([r for r in all_records if args(r).get("symbol") == marks.denied_symbol],
                  "the denied call")
    expect(allowed.get("user") == alice and allowed.get("client") and allowed.get("method") == "tools/call"
           and allowed.get("upstream") == "matheval" and allowed.get("name") == "evaluate"
           and allowed.get("decision") == "allow" and (allowed.get("outcome") or {}).get("status") == "ok",
           f"allowed: {allowed}")
    expect(denied.get("user") == alice and denied.get("decision") == "deny"
           and denied.get("rule") == "no-investment-advice", f"denied: {denied}")
    seqs = [r["seq"] for r in all_records]
    expect(seqs == list(range(1, len(seqs) + 1)), "sequence numbers have gaps or repeats")
    return f"{len(all_records)} records, seq 1..{len(seqs)}; the marked call: allow by alice; the denied one: deny, rule no-investment-advice"


@case("a long argument is cut to a marker with its size and SHA-256")
def _(w):
    marks = calls(w)
    record = only([r for r in records(w) if str(args(r).get("city", "")).startswith(f"Atlantis-{marks.tag}")],
                  "the long-argument call")
    city = record["arguments"]["city"]
    digest = hashlib.sha256(marks.long_city.encode()).hexdigest()
    marker = f"[cut: {len(marks.long_city)} bytes, sha256:{digest}]"
    expect(city.endswith(marker) and len(city.encode()) <= 1024 + len(marker) + 8 and "/arguments/city" in record.get("cut", []),
           f"city kept as {city[:80]}…{city[-120:]!r}, cut {record.get('cut')}")
    return f"{len(city.encode())} bytes kept, ends …{marker[:48]}…]"


@case("arguments too large for a record are cut as a whole")
def _(w):
    marks = calls(w)
    key = next(iter(marks.wide))
    found = [r for r in records(w) if key in json.dumps(r.get("arguments"))]
    record = only(found, "the wide call")
    line = json.dumps(record)
    expect("/arguments" in record.get("cut", []) and isinstance(record["arguments"], str)
           and "[cut: " in record["arguments"] and len(line.encode()) <= 8192 + 512,
           f"record of {len(line)} bytes, cut {record.get('cut')}")
    return f"record of {len(line.encode())} bytes (max_record_bytes 8192), arguments cut to a marker"


@case("secrets in arguments are redacted, and no bearer token reaches the audit log or the server log")
def _(w):
    marks = calls(w)
    record = only([r for r in records(w) if args(r).get("city") == f"Oslo-{marks.tag}"], "the call with secrets")
    arguments = record["arguments"]
    expect(arguments.get("password") == "[redacted:secret]" and "[redacted:api_key]" in arguments.get("note", "")
           and "[redacted:" in arguments.get("note", "").split("auth", 1)[-1], f"arguments kept: {arguments}")
    log = (w.main.data / "audit.jsonl").read_text()
    server_log = w.main.log()
    for secret in (marks.secret, marks.api_key, marks.token):
        expect(secret not in log, f"{secret[:16]}… is in the audit log")
        expect(secret not in server_log, f"{secret[:16]}… is in the server log")
    return f"password {arguments['password']}, note {arguments['note'][:90]!r}; no token in either log"


@case("belay audit verify passes on the log as written")
def _(w):
    calls(w)
    checked = verify(w)
    report = json.loads(checked.stdout or "{}")
    expect(checked.returncode == 0 and report.get("records", 0) >= 4 and report.get("problem") is None,
           f"exit {checked.returncode}: {checked.stdout[:300]} {checked.stderr[:300]}")
    return f"exit 0, {report['records']} records verified"


def tampered(w, change) -> tuple[dict, int, str]:
    """Verifies the log after `change(lines)`, then puts the file back as it was: the
    problem `verify --json` reports, its exit code and what it said."""
    calls(w)
    path = w.main.data / "audit.jsonl"
    original = path.read_bytes()
    lines = original.decode().splitlines(keepends=True)
    try:
        path.write_text("".join(change(lines)))
        checked = verify(w)
    finally:
        path.write_bytes(original)
    expect(verify(w).returncode == 0, "the restored log no longer verifies")
    report = json.loads(checked.stdout or "{}")
    return report.get("problem") or {}, checked.returncode, " ".join((checked.stderr or checked.stdout).split())[:240]


@case("an edited record is named by belay audit verify")
def _(w):
    marks = calls(w)

    def edit(lines: list[str]) -> list[str]:
        return [line.replace(f'"expression":"{marks.expression}"', '"expression":"2+2"') for line in lines]

    target = only([r for r in records(w) if args(r).get("expression") == marks.expression], "the call")
    problem, code, said = tampered(w, edit)
    expect(code == 1 and problem.get("seq") == target["seq"], f"exit {code}, problem {problem}: {said}")
    return f"exit 1, record {target['seq']} named: {said}"


@case("a record deleted from the middle is reported")
def _(w):
    problem, code, said = tampered(w, lambda lines: lines[:1] + lines[2:])
    expect(code == 1 and problem.get("seq") == 2, f"exit {code}, problem {problem}: {said}")
    return f"exit 1, record 2 named: {said}"


@case("records cut from the end are reported (the head file remembers)")
def _(w):
    count = len(records(w))
    problem, code, said = tampered(w, lambda lines: lines[:-2])
    expect(code == 1 and problem.get("kind") == "truncated" and problem.get("seq") == count - 1,
           f"exit {code}, problem {problem}: {said}")
    return f"exit 1, truncated from record {count - 1}: {said}"


@case("belay up stops with exit 0 on SIGTERM")
def _(w):
    calls(w)
    expect(w.stopped_main == 0, f"exit {w.stopped_main}")
    return "exit 0"


@case("a clean stop logs no ERROR line")
def _(w):
    calls(w)
    log = w.main.log().splitlines()
    start = next((i for i, line in enumerate(log) if "shutdown signal received" in line), None)
    expect(start is not None, "no shutdown line in the log")
    errors = [line for line in log[start:] if " ERROR " in line]
    if errors:
        raise Fail(f"{len(errors)} ERROR line(s) after SIGTERM: {errors[0][:300]}")
    return f"{len(log) - start} lines after SIGTERM, none ERROR"
