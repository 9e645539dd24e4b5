"""The interop matrix: `belay gateway serve` in front of servers written by others, driven by
official clients. tests/matrix/run calls this; README.md beside it says what it checks.

    python matrix.py [--client NAME]... [--out FILE] [--update-readme]

It starts the network upstreams (upstreams.py) on free loopback ports, two gateways with
`auth = false` (one for the stdio upstreams, one for the network ones: server-everything's
stdio and HTTP copies list the same resource URIs, and one federated `/mcp` hides a URI that
two upstreams claim), then each client in turn, which writes one record per cell. Every cell
prints PASS, FAIL with what the client saw, or N/A with the reason. A FAIL listed in
known-failures.txt is reported as known and does not fail the run; a listed failure that no
longer fails does, so that the list only holds what is still broken.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop" / "python"))
from belay_server import HOST, belay_bin, free_port, running, stop_on_sigterm  # noqa: E402
from upstreams import FEATURES, HERE, NODE, PAGE_SIZE, PNG_1X1, PYTHON, ROOT, Upstream, upstreams  # noqa: E402

PY_CLIENT = [str(PYTHON), str(HERE / "clients" / "py_client.py"), "{plan}", "--out", "{out}", "--mode"]
CLIENTS = {
    # name: (label for the README, command; {plan} and {out} are filled in)
    "py-auto": ("Python SDK `mcp` 2.3.0, mode `auto`", [*PY_CLIENT, "auto"]),
    "py-legacy": ("Python SDK `mcp` 2.3.0, mode `legacy`", [*PY_CLIENT, "legacy"]),
    "ts": ("TypeScript SDK `@modelcontextprotocol/sdk` 1.32.2", [str(NODE), str(HERE / "clients" / "ts_client.mjs"), "{plan}", "{out}"]),
    "inspector": ("MCP Inspector CLI 2.12.0", [str(NODE), str(HERE / "clients" / "inspector_client.mjs"), "{plan}", "{out}"]),
}
CLIENT_TIMEOUT_S = 200  # one client; a hung one costs this much, and its cells fail
BUDGET_S = float(os.environ.get("MATRIX_BUDGET_S", "420"))  # the whole run, inside the stage's limit
MARKER = "MATRIX-7f3a: the sampled headline"
ANSWER_NAME = "Matrix Tester 7f3a"
ROUTES = {"mcp": "/mcp", "server": "/servers/NAME/mcp"}
KNOWN = HERE / "known-failures.txt"
README = HERE / "README.md"


# ---- the scratch files some servers need ----------------------------------------------------
def make_scratch(scratch: Path) -> None:
    files = scratch / "files"
    files.mkdir()
    (files / "hello.txt").write_text("hello from the matrix\n")
    (files / "tiny.png").write_bytes(PNG_1X1)
    repo = scratch / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=Matrix", "-c", "user.email=matrix@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "README.md").write_text("a scratch repository for mcp-server-git\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "matrix commit"], check=True)


# ---- gateways ---------------------------------------------------------------------------------
def toml_value(value: Any) -> str:
    """A TOML value: a JSON string is a TOML basic string; tables become inline tables."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def gateway_config(ups: list[Upstream]) -> str:
    lines = ["[gateway]", "auth = false", f"page_size = {PAGE_SIZE}", "health_interval_secs = 0", ""]
    for u in ups:
        lines += ["[[gateway.upstream]]", f"name = {toml_value(u.name)}", f"transport = {toml_value(u.transport)}", ""]
    return "\n".join(lines)


def wait_until_up(base: str, names: list[str], seconds: float = 60) -> None:
    """Until the gateway's metrics say every upstream is connected."""
    deadline = time.monotonic() + seconds
    down = names
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            text = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
            down = [n for n in names if f'belay_gateway_upstream_up{{upstream="{n}"}} 1' not in text]
            if not down:
                return
        time.sleep(0.3)
    raise RuntimeError(f"upstreams not connected after {seconds:.0f}s: {down}")


@contextlib.contextmanager
def everything_running(scratch: Path, ups: list[Upstream]) -> Iterator[dict[str, str]]:
    """Network upstreams, then the two gateways; yields each gateway's base URL."""
    with contextlib.ExitStack() as stack:
        for u in ups:
            if u.serve is None:
                continue
            port = str(free_port())
            fill = lambda s, port=port: s.replace("{port}", port)  # noqa: E731
            u.transport = {k: fill(v) if isinstance(v, str) else v for k, v in u.transport.items()}
            cmd = [fill(a) for a in u.serve]
            stack.enter_context(running(cmd, int(port), u.name, env={k: fill(v) for k, v in u.env.items()} or None))
        bases: dict[str, str] = {}
        for gateway in ("stdio", "network"):
            members = [u for u in ups if u.gateway == gateway]
            config = scratch / f"belay-{gateway}.toml"
            config.write_text(gateway_config(members))
            check = subprocess.run([belay_bin(), "gateway", "check", str(config)], capture_output=True, text=True)
            if check.returncode != 0:
                raise RuntimeError(f"belay gateway check {config}: {check.stdout}{check.stderr}")
            port = free_port()
            data = scratch / f"data-{gateway}"
            data.mkdir()
            cmd = [belay_bin(), "--config", str(config), "gateway", "serve", "--host", HOST, "--port", str(port)]
            stack.enter_context(running([*cmd, "--data-dir", str(data)], port, f"gateway-{gateway}"))
            bases[gateway] = f"http://{HOST}:{port}"
        for gateway, base in bases.items():
            wait_until_up(base, [u.name for u in ups if u.gateway == gateway])
        yield bases


# ---- results ----------------------------------------------------------------------------------
@dataclass
class Known:
    client: str
    route: str
    row: str
    feature: str
    reason: str
    line: int
    matched: int = 0  # cells it covers that failed
    passed: int = 0  # cells it covers that passed

    @property
    def flaky(self) -> bool:
        """A race that fails some runs only: passing cells do not make it stale."""
        return self.reason.startswith("flaky:")

    def covers(self, client: str, route: str, row: str, feature: str) -> bool:
        pairs = ((self.client, client), (self.route, route), (self.row, row), (self.feature, feature))
        return all(any(fnmatch.fnmatchcase(value, p) for p in patterns.split(",")) for patterns, value in pairs)


def read_known(path: Path) -> list[Known]:
    """known-failures.txt: `CLIENT ROUTE ROW FEATURE  reason`, # comments. Each of the first
    four fields is a comma-separated list of shell globs."""
    known = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 4)
        if len(parts) < 5:
            raise SystemExit(f"{path}:{n}: want CLIENT ROUTE ROW FEATURE REASON, got {line!r}")
        known.append(Known(*parts, line=n))
    return known


Cells = dict[tuple[str, str, str], tuple[str, str]]  # (row, route, feature) -> (status, detail)


def collect(results: list[dict[str, Any]], rows: list[str], note: str) -> Cells:
    """The cells of one client; a cell it did not report is a FAIL saying why."""
    cells = {(r["row"], r["route"], r["feature"]): (r["status"], r["detail"]) for r in results}
    for row in rows:
        for route in ROUTES:
            for feature in FEATURES:
                cells.setdefault((row, route, feature), ("FAIL", f"no result from the client ({note})"))
    return cells


def markdown(
    ups: list[Upstream],
    all_cells: dict[str, Cells],
    known_cells: dict[tuple[str, str, str, str], str],
    took: dict[str, float],
    total: float,
) -> str:
    out = [
        f"<!-- generated by tests/matrix/run --update-readme on {datetime.date.today().isoformat()}; do not edit -->",
        "",
        f"Two gateways (stdio upstreams, network upstreams), `page_size = {PAGE_SIZE}`, `auth = false`. "
        f"Each cell is `/mcp` (prefixed names) then `/servers/NAME/mcp`, one word when both agree: "
        "**pass**, **FAIL** (a known failure: **known**), or n/a; notes give what a client saw and each n/a's reason. "
        f"The run took {total:.0f} s ({', '.join(f'{c} {t:.0f} s' for c, t in took.items())}).",
        "",
    ]
    for client, cells in all_cells.items():
        out += [f"#### {CLIENTS[client][0]}", ""]
        out.append("| upstream | " + " | ".join(FEATURES) + " |")
        out.append("| --- |" + " --- |" * len(FEATURES))
        notes: list[str] = []
        for u in ups:
            line = [u.label]
            for feature in FEATURES:
                parts = []
                for route in ROUTES:
                    status, detail = cells[(u.name, route, feature)]
                    word = {"PASS": "pass", "N/A": "n/a"}.get(status, "FAIL")
                    note = detail
                    if status == "FAIL" and (client, route, u.name, feature) in known_cells:
                        word = "known"
                        note = f"{detail} (known: {known_cells[(client, route, u.name, feature)]})"
                    if status != "PASS":
                        if note not in notes:
                            notes.append(note)
                        word += f"<sup>{notes.index(note) + 1}</sup>"
                    parts.append(word)
                line.append(parts[0] if parts[0] == parts[1] else " / ".join(parts))
            out.append("| " + " | ".join(line) + " |")
        out.append("")
        out += [f"{i}. {note.replace('|', '∣')}" for i, note in enumerate(notes, start=1)]
        out.append("")
    return "\n".join(out)


def update_readme(table: str) -> None:
    begin, end = "<!-- matrix:begin -->", "<!-- matrix:end -->"
    text = README.read_text()
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    README.write_text(f"{head}{begin}\n{table}\n{end}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", action="append", choices=list(CLIENTS), help="repeatable (default: every client)")
    parser.add_argument("--out", default=str(Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "matrix" / "MATRIX.md"))
    parser.add_argument("--update-readme", action="store_true", help="write the table into tests/matrix/README.md")
    args = parser.parse_args()
    clients = args.client or list(CLIENTS)
    stop_on_sigterm()
    known = read_known(KNOWN)
    start = time.monotonic()
    all_cells: dict[str, Cells] = {}
    took: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="belay-matrix-") as tmp:
        scratch = Path(tmp)
        make_scratch(scratch)
        ups = upstreams(scratch)
        rows = [u.name for u in ups]
        with everything_running(scratch, ups) as bases:
            plan = {
                "features": FEATURES,
                "page_size": PAGE_SIZE,
                "marker": MARKER,
                "answer_name": ANSWER_NAME,
                "rows": [
                    {
                        "row": u.name,
                        "prefix": f"{u.name}__",
                        "urls": {"mcp": f"{bases[u.gateway]}/mcp", "server": f"{bases[u.gateway]}/servers/{u.name}/mcp"},
                        "checks": u.checks,
                    }
                    for u in ups
                ],
            }
            plan_path = scratch / "plan.json"
            plan_path.write_text(json.dumps(plan, indent=1))
            print(f"matrix: gateways {bases}; {len(ups)} upstreams x {len(ROUTES)} routes x {len(FEATURES)} features", flush=True)
            for client in clients:
                out_path = scratch / f"results-{client}.json"
                cmd = [a.replace("{plan}", str(plan_path)).replace("{out}", str(out_path)) for a in CLIENTS[client][1]]
                print(f"---- client {client}", flush=True)
                t0 = time.monotonic()
                limit = min(CLIENT_TIMEOUT_S, BUDGET_S - (t0 - start))
                try:
                    if limit < 10:
                        raise subprocess.TimeoutExpired(cmd, 0)
                    proc = subprocess.run(cmd, timeout=limit)
                    note = f"exit {proc.returncode}"
                except subprocess.TimeoutExpired:
                    note = f"stopped after {max(limit, 0):.0f}s: the run's budget is {BUDGET_S:.0f}s (MATRIX_BUDGET_S)"
                took[client] = time.monotonic() - t0
                results = json.loads(out_path.read_text()) if out_path.exists() else []
                all_cells[client] = collect(results, rows, note)
    total = time.monotonic() - start

    # Report every cell, then weigh the failures against the known list.
    unexpected: list[str] = []
    known_cells: dict[tuple[str, str, str, str], str] = {}  # cell -> the known failure's reason
    counts = {"PASS": 0, "FAIL": 0, "N/A": 0, "known": 0}
    for client, cells in all_cells.items():
        for (row, route, feature), (status, detail) in sorted(cells.items()):
            where = f"{client} {ROUTES[route].replace('NAME', row)} {row} {feature}"
            entry = next((k for k in known if k.covers(client, route, row, feature)), None)
            if entry is not None and status != "FAIL":
                entry.passed += status == "PASS"
                entry = None
            if entry is not None:
                entry.matched += 1
                known_cells[(client, route, row, feature)] = entry.reason
                counts["known"] += 1
                print(f"  FAIL (known, {KNOWN.name}:{entry.line}) {where}: {detail}")
                continue
            counts[status] += 1
            print(f"  {status} {where}: {detail}")
            if status == "FAIL":
                unexpected.append(f"{where}: {detail}")
    # A non-flaky entry is stale when a cell it covers passed, or when it covers no failure.
    ran = [k for k in known if any(fnmatch.fnmatchcase(c, p) for c in all_cells for p in k.client.split(","))]
    stale = [k for k in ran if not k.flaky and (k.passed or not k.matched)]

    table = markdown(ups, all_cells, known_cells, took, total)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    if args.update_readme:
        update_readme(table)
    print(f"\nmatrix written to {out}{' and tests/matrix/README.md' if args.update_readme else ''} ({total:.0f}s)")
    for k in stale:
        print(
            f"known failure no longer fails ({k.passed} cell(s) passed, {k.matched} failed): narrow or remove "
            f"{KNOWN.name}:{k.line}: {k.client} {k.route} {k.row} {k.feature}"
        )
    for u in unexpected:
        print(f"unexpected FAIL {u}")
    print(f"matrix: {counts['PASS']} pass, {counts['FAIL']} fail, {counts['known']} known failures, {counts['N/A']} n/a")
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())
