"""A REST API as MCP tools, through `belay gateway serve`, driven by the official Python SDK.

The API is a real HTTP service on loopback: `openapi-petstore` (crates/belay-openapi, an axum
Petstore whose `/_log` lists every request exactly as it arrived, and whose `/admin` answers a
secret no document mentions). The gateway has one `type = "openapi"` upstream built from
crates/belay-openapi/fixtures/petstore.yaml, with the API key in a header from an environment
variable, a policy rule that denies `deletePet`, the argument and secret guards on, and the
audit log. The Python SDK client, through `/mcp`, checks that:

* the operations are listed as prefixed tools with their schemas (the denied one hidden);
* calls reach the API with its key and answer structured content;
* `../admin` and other path tricks stay one segment under `/v1/pets/` (the service's log) and
  never reach `/admin`; a CRLF header value and an undeclared `url` argument are refused and
  send nothing; the denied `deletePet` is refused by policy and sends nothing;
* the audit log holds the calls (and the policy denial) and verifies.

Every check prints PASS/FAIL; the exit code is non-zero on any FAIL.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from belay_server import HOST, ROOT, belay_bin, free_port, running  # noqa: E402
from gateway_harness import Gateway, audit_records, gateway_home, listed_tools, main, refused  # noqa: E402
from gateway_harness import client as sdk_client  # noqa: E402
from oauth_weather import Report  # noqa: E402
from stock_session import text_of  # noqa: E402

DOCUMENT = ROOT / "crates" / "belay-openapi" / "fixtures" / "petstore.yaml"
API_KEY = "interop-petstore-key-7f3a"
ADMIN_SECRET = "petstore-admin-secret-4c1d"


def petstore_bin() -> str:
    return str(Path(belay_bin()).parent / "openapi-petstore")


def config_toml(api: str) -> str:
    document = json.dumps(str(DOCUMENT))
    return f"""\
[gateway]
auth = false

[gateway.guard]
arguments = "block"
secrets = "redact"

[gateway.policy]
default = "allow"

[[gateway.policy.rules]]
id = "no-deleting-pets"
effect = "deny"
upstreams = ["pets"]
names = ["deletePet"]

[[gateway.upstream]]
name = "pets"
transport = {{ type = "openapi", document = {document}, base_url = "{api}/v1", allow_hosts = ["127.0.0.1"], credential = {{ type = "api_key", in = "header", name = "X-API-Key", secret = {{ env = "PETSTORE_KEY" }} }} }}

[audit]
sinks = ["file", "store"]
file = "audit.jsonl"
"""


def client(url: str) -> Client:
    return sdk_client(url, "belay-interop-gateway-openapi")


def api_log(api: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{api}/_log", timeout=10) as answer:
        return json.loads(answer.read())


async def session(url: str, api: str, report: Report) -> None:
    async with client(url) as c:
        by_name = {t.name: t for t in await listed_tools(c, "pets__getPet")}
        report.check(
            "the operations are listed as prefixed tools",
            {"pets__listPets", "pets__createPet", "pets__getPet", "pets__get_pets_petId_owner"} <= set(by_name),
            sorted(by_name),
        )
        report.check("the policy-denied deletePet is hidden", "pets__deletePet" not in by_name, sorted(by_name))
        get_pet = by_name.get("pets__getPet")
        report.check(
            "getPet's input schema requires petId",
            get_pet is not None and get_pet.input_schema.get("required") == ["petId"],
            get_pet.input_schema if get_pet else None,
        )
        report.check(
            "getPet has an output schema",
            get_pet is not None and get_pet.output_schema is not None,
            get_pet.model_dump() if get_pet else "no tool",
        )

        listed = await c.call_tool("pets__listPets", {"tag": "cat", "X-Request-Id": "interop-1"})
        report.check(
            "listPets answers structured content",
            not listed.is_error and listed.structured_content == {"result": [{"id": "2", "name": "Tom", "tag": "cat"}]},
            (listed.structured_content, text_of(listed)),
        )
        created = await c.call_tool("pets__createPet", {"body": {"name": "Kiki", "tag": "bird"}})
        new_id = (created.structured_content or {}).get("id")
        report.check("createPet adds a pet", not created.is_error and new_id == "4", (created.structured_content, text_of(created)))
        got = await c.call_tool("pets__getPet", {"petId": "4"})
        report.check("getPet reads it back", (got.structured_content or {}).get("name") == "Kiki", text_of(got))

        before = len(api_log(api))
        for evil in ["../admin", "../../admin", "..%2F..%2Fadmin", "x/../../admin?debug=1#frag"]:
            result = await c.call_tool("pets__getPet", {"petId": evil})
            report.check(
                f"petId {evil!r} stays a pet id (404, no secret)",
                result.is_error and "404" in text_of(result) and ADMIN_SECRET not in text_of(result),
                text_of(result)[:300],
            )
        why = await refused(c, "pets__getPet", {"petId": ".."})
        report.check("petId '..' is refused before sending", "one path segment" in why, why)
        why = await refused(c, "pets__listPets", {"X-Request-Id": "x\r\nX-API-Key: forged"})
        report.check("a CRLF header value is refused", bool(why), why)
        why = await refused(c, "pets__getPet", {"petId": "1", "url": "http://169.254.169.254/latest"})
        report.check("an undeclared url argument is refused", bool(why), why)
        why = await refused(c, "pets__deletePet", {"petId": "1"})
        report.check("deletePet is refused by policy", "no-deleting-pets" in why or "denied" in why.lower(), why)

        log = api_log(api)
        sent = [entry["target"] for entry in log[before:]]
        report.check(
            "the service saw only encoded single segments under /v1/pets/",
            sent
            == [
                "/v1/pets/..%2Fadmin",
                "/v1/pets/..%2F..%2Fadmin",
                "/v1/pets/..%252F..%252Fadmin",
                "/v1/pets/x%2F..%2F..%2Fadmin%3Fdebug%3D1%23frag",
            ],
            sent,
        )
        report.check("nothing ever reached /admin", not any("admin" == e["target"].strip("/").split("?")[0].split("/")[-1] for e in log), [e["target"] for e in log])
        report.check("every request carried the API key", all(e.get("api_key") == API_KEY for e in log), log[:2])
        report.check("the request id header went through", log[0].get("request_id") == "interop-1", log[:1])


def audit_checks(gateway: Gateway, report: Report) -> None:
    records = audit_records(gateway, report)
    calls = {(r.get("upstream"), r.get("name")) for r in records}
    for want in [("pets", "listPets"), ("pets", "createPet"), ("pets", "getPet")]:
        report.check(f"the audit log holds a call of {want[1]}", want in calls, sorted(map(str, calls))[:20])
    denied = [r for r in records if r.get("name") == "deletePet"]
    report.check("the audit log holds the policy denial", bool(denied), denied[:1])
    report.check("the audit log never holds the API key", API_KEY not in json.dumps(records))


async def run(report: Report) -> None:
    with gateway_home("gateway-openapi") as gateway:
        api_port = free_port()
        api = f"http://{HOST}:{api_port}"
        gateway.configure(config_toml(api))
        os.environ["PETSTORE_KEY"] = API_KEY
        with running([petstore_bin(), str(api_port)], api_port, "petstore", env={"PETSTORE_API_KEY": API_KEY}):
            with gateway.running("gateway-openapi"):
                try:
                    await session(gateway.url, api, report)
                except Exception as e:  # noqa: BLE001 - reported as a failed check
                    report.check("session", False, repr(e))
        audit_checks(gateway, report)


if __name__ == "__main__":
    sys.exit(main(run))
