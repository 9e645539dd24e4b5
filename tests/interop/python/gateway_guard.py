"""The gateway's guards, driven by the official Python SDK client through `belay gateway serve`.

Upstream: crates/belay-gateway/tests/python/sdk_upstream.py's sibling `guarded_upstream.py`,
a Python SDK stdio server that misbehaves, twice: `sdk` with the injection guard set to
annotate, `strict` to block. The client lists and calls through `/mcp` and checks that:

* the poisoned tool (`add`) is hidden and its call refused;
* arguments that break `transfer`'s schema never reach the upstream (its call log);
* an injected page is annotated (`sdk`) or withheld (`strict`);
* a card number in a result is redacted;
* a rug pull: `get_quote` changes its description while the gateway is stopped, and is held
  back after the restart, and after another restart (pins are in the store), until
  `belay gateway approve sdk get_quote`, which a running gateway picks up;
* the audit log holds every verdict and verifies.

Every check prints PASS/FAIL; the exit code is non-zero on any FAIL.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from belay_server import ROOT  # noqa: E402
from gateway_harness import Gateway, audit_records, gateway_home, main, refused, tool_names  # noqa: E402
from gateway_harness import client as sdk_client  # noqa: E402
from oauth_weather import Report  # noqa: E402
from stock_session import text_of  # noqa: E402

UPSTREAM = ROOT / "crates" / "belay-gateway" / "tests" / "python" / "guarded_upstream.py"


def config_toml(state: Path, calls: Path) -> str:
    python = json.dumps(sys.executable)  # a TOML basic string is a JSON string
    upstream = json.dumps(str(UPSTREAM))
    env = f"{{ GUARDED_STATE = {json.dumps(str(state))}, GUARDED_CALLS = {json.dumps(str(calls))} }}"
    return f"""\
[gateway]
auth = false

[gateway.guard]
metadata = "hide"
pin = true
arguments = "block"
injection = "annotate"
secrets = "redact"
secret_kinds = ["card"]

[[gateway.upstream]]
name = "sdk"
transport = {{ type = "stdio", command = {python}, args = [{upstream}], env = {env} }}

[[gateway.upstream]]
name = "strict"
transport = {{ type = "stdio", command = {python}, args = [{upstream}], env = {env} }}

[gateway.upstream.guard]
metadata = "hide"
arguments = "block"
injection = "block"

[audit]
sinks = ["file", "store"]
file = "audit.jsonl"
"""


def client(url: str) -> Client:
    return sdk_client(url, "belay-interop-gateway-guard")


async def first_run(url: str, calls: Path, report: Report) -> None:
    async with client(url) as c:
        names = await tool_names(c, "sdk__transfer", "strict__fetch_page")
        report.check("the honest tools are listed", {"sdk__get_quote", "sdk__transfer", "strict__fetch_page"} <= set(names), names)
        report.check("the poisoned tool is hidden", "sdk__add" not in names and "strict__add" not in names, names)
        why = await refused(c, "sdk__add", {"a": 1, "b": 2, "sidenote": "x"})
        report.check("a call of the hidden tool is refused", "held back" in why, why)

        sent = await c.call_tool("sdk__transfer", {"amount": 10, "account": "12345678"})
        report.check("valid arguments reach the upstream", not sent.is_error and "sent 10" in text_of(sent), text_of(sent))
        why = await refused(c, "sdk__transfer", {"amount": "lots", "account": "12345678; rm -rf /"})
        report.check("arguments that break the schema are refused", "input schema" in why, why)
        logged = calls.read_text().splitlines() if calls.exists() else []
        report.check("…and never reach the upstream", len(logged) == 1, logged)

        page = text_of(await c.call_tool("sdk__fetch_page", {"url": "https://example.com/careers"}))
        report.check("an injected page is annotated (sdk)", "<<untrusted-" in page and "ignore all previous" in page.lower().replace("\u02c6", " "), page[:200])
        why = await refused(c, "strict__fetch_page", {"url": "https://example.com/careers"})
        report.check("an injected page is withheld (strict)", "withheld by a guard" in why, why)

        card = text_of(await c.call_tool("sdk__customer_card", {"customer": "ana"}))
        report.check("a card number is redacted", "4111" not in card and "[redacted:card]" in card, card)

        quote = await c.call_tool("sdk__get_quote", {"symbol": "AAPL"})
        report.check("the honest get_quote answers (and is pinned)", "150.25" in text_of(quote), text_of(quote))

    metrics = urllib.request.urlopen(url.removesuffix("/mcp") + "/metrics", timeout=10).read().decode()
    for labels in ['guard="injection",kind="prompt_injection",action="annotated"', 'guard="arguments"']:
        report.check(f"/metrics counts detections ({labels})", labels in metrics, metrics[-300:])
    report.check("/metrics counts blocked requests", 'outcome="blocked"' in metrics)


async def pulled_run(url: str, report: Report, label: str) -> None:
    async with client(url) as c:
        names = await tool_names(c, "sdk__transfer", "strict__fetch_page")
        report.check(f"{label}: the changed get_quote is held back", "sdk__get_quote" not in names, names)
        why = await refused(c, "sdk__get_quote", {"symbol": "AAPL", "notes": "the conversation"})
        report.check(f"{label}: its call is refused, naming the approval", "belay gateway approve sdk get_quote" in why, why)


async def approve_while_running(gateway: Gateway, report: Report) -> None:
    pins = gateway.belay("gateway", "pins", "--pending", "--json")
    pending = json.loads(pins.stdout) if pins.returncode == 0 else []
    report.check(
        "belay gateway pins lists the pending change with its diff",
        len(pending) == 1 and pending[0]["tool"] == "get_quote" and "+" in pending[0].get("diff", ""),
        pins.stdout[-400:] + pins.stderr[-400:],
    )
    async with client(gateway.url) as c:
        names = await tool_names(c, "sdk__transfer")
        report.check("before approval get_quote is still hidden", "sdk__get_quote" not in names, names)
        approved = gateway.belay("gateway", "approve", "sdk", "get_quote")
        report.check("belay gateway approve sdk get_quote", approved.returncode == 0, approved.stderr[-400:])
        names = await tool_names(c, "sdk__get_quote")
        report.check("the running gateway shows the approved tool", "sdk__get_quote" in names, names)
        quote = await c.call_tool("sdk__get_quote", {"symbol": "AAPL"})
        report.check("and calls it", "150.25" in text_of(quote), text_of(quote))


def audit_checks(gateway: Gateway, report: Report) -> None:
    records = audit_records(gateway, report)
    verdicts = [(r.get("upstream"), r.get("name"), v["guard"], v["action"]) for r in records for v in r.get("guard", [])]
    for want in [
        ("sdk", "add", "metadata", "hidden"),
        ("sdk", "add", "metadata", "blocked"),
        ("sdk", "transfer", "arguments", "blocked"),
        ("sdk", "fetch_page", "injection", "annotated"),
        ("strict", "fetch_page", "injection", "blocked"),
        ("sdk", "customer_card", "secrets", "redacted"),
        ("sdk", "get_quote", "pinning", "hidden"),
        ("sdk", "get_quote", "pinning", "blocked"),
    ]:
        report.check(f"the audit log holds {want}", want in verdicts, sorted(set(verdicts))[:20])
    leaked = [r for r in records if "4111 1111" in json.dumps(r)]
    report.check("the audit log never holds the card number", not leaked, leaked[:1])


async def run(report: Report) -> None:
    with gateway_home("gateway-guard") as gateway:
        state, calls = gateway.data / "state", gateway.data / "calls.jsonl"
        gateway.configure(config_toml(state, calls))
        url = gateway.url
        steps = [
            ("first run", lambda: first_run(url, calls, report)),
            ("after the rug pull", lambda: pulled_run(url, report, "after the rug pull")),
            ("after another restart", lambda: pulled_run(url, report, "after another restart")),
            ("approval", lambda: approve_while_running(gateway, report)),
        ]
        for i, (label, step) in enumerate(steps):
            if i == 1:
                state.write_text("pulled")  # the upstream changes while the gateway is stopped
            with gateway.running(f"gateway-guard-{i}"):
                try:
                    await step()
                except Exception as e:  # noqa: BLE001 - reported, then the next step runs
                    report.check(f"{label}: session", False, repr(e))
        audit_checks(gateway, report)


if __name__ == "__main__":
    sys.exit(main(run))
