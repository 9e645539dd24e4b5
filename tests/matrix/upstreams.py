"""The matrix's upstreams: how each is started and what each is checked for.

Every upstream is a server somebody else wrote, installed from a package registry by
scripts/setup at a pinned version (tests/matrix/requirements.txt, tests/matrix/js/package.json),
or a small server written here with an official SDK (servers/). A feature an upstream does
not offer is N/A with the reason, which must be true of that software: never a way to hide
a failure.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOOLS = ROOT / ".tools"
NODE = TOOLS / "bin" / "node"
PYTHON = TOOLS / "matrix-venv" / "bin" / "python"
NODE_MODULES = HERE / "js" / "node_modules" / "@modelcontextprotocol"
EVERYTHING = NODE_MODULES / "server-everything" / "dist" / "index.js"

FEATURES = [
    "tools",
    "structured",
    "images",
    "resources",
    "templates",
    "pagination",
    "prompts",
    "completions",
    "logging",
    "progress",
    "cancellation",
    "subscriptions",
    "list-changed",
    "sampling",
    "elicitation",
    "sampling-async",
    "elicitation-async",
]
PAGE_SIZE = 3  # the gateway's page size: every list longer than this takes several pages
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
)
ONLY_EVERYTHING_ASYNC = "only server-everything has the task-based (async) form"


@dataclass
class Upstream:
    name: str  # also the row of the matrix, and the upstream's name behind the gateway
    label: str  # what the README calls it
    gateway: str  # "stdio" or "network": which of the two gateways it sits behind
    transport: dict[str, Any]  # the [[gateway.upstream]] transport table (a URL of "{port}" filled in later)
    checks: dict[str, Any]
    serve: list[str] | None = None  # for network upstreams: the command that serves it on "{port}"
    env: dict[str, str] = field(default_factory=dict)


def own_server_checks(tag: str) -> dict[str, Any]:
    """Checks of servers/py_server.py and servers/ts_server.mjs (the same features)."""
    notes = [f"matrix://{tag}/notes/{i}" for i in range(12)]
    return {
        "tools": {"tool": "echo", "args": {"text": "matrix"}, "expect": "echo: matrix"},
        "structured": {"tool": "weather", "args": {"city": "Oslo"}, "keys": ["city", "temperature_c", "conditions"]},
        "images": {"tool": "tiny_image", "args": {}},
        "resources": {"uris": notes, "read": notes[3], "expect": f"note 3 of {tag}"},
        "templates": {
            "template": f"matrix://{tag}/items/{{item}}",
            "read": f"matrix://{tag}/items/apple",
            "expect": f"item apple of {tag}",
        },
        "pagination": {"list": "resources", "names": notes},
        "prompts": {"prompt": "greet", "args": {"name": "Ada", "style": "pirate"}, "expect": "pirate greeting for Ada"},
        "completions": {"prompt": "greet", "argument": "style", "value": "pi", "expect": "pirate"},
        "logging": {
            "level": "info",
            "absent": "debug",
            "expect": "slow step",
            "calls": [{"tool": "slow", "args": {"steps": 2, "step_ms": 50}}],
        },
        "progress": {"tool": "slow", "args": {"steps": 3, "step_ms": 80}, "min": 3},
        "cancellation": {
            "tool": "slow",
            "args": {"steps": 100, "step_ms": 100},
            "counter": "cancellations",
            "after": {"tool": "echo", "args": {"text": "after"}},
        },
        "subscriptions": {"uri": notes[1], "trigger": [{"tool": "touch", "args": {"uri": notes[1]}}]},
        "list-changed": {"list": "tools", "trigger": {"tool": "add_tool", "args": {}}},
        "sampling": {"tool": "headline", "args": {"topic": "matrix"}},
        "elicitation": {"tool": "ask_name", "args": {}},
        "sampling-async": ONLY_EVERYTHING_ASYNC,
        "elicitation-async": ONLY_EVERYTHING_ASYNC,
    }


def everything_checks() -> dict[str, Any]:
    docs = [f"demo://resource/static/document/{d}" for d in ("architecture.md", "features.md", "startup.md")]
    base_tools = [
        "echo",
        "get-annotated-message",
        "get-env",
        "get-resource-links",
        "get-resource-reference",
        "get-structured-content",
        "get-sum",
        "get-tiny-image",
        "gzip-file-as-resource",
        "toggle-simulated-logging",
        "toggle-subscriber-updates",
        "trigger-long-running-operation",
    ]
    toggle_logs = {"tool": "toggle-simulated-logging", "args": {}}
    toggle_updates = {"tool": "toggle-subscriber-updates", "args": {}}
    return {
        "tools": {"tool": "echo", "args": {"message": "matrix"}, "expect": "matrix"},
        "structured": {
            "tool": "get-structured-content",
            "args": {"location": "New York"},
            "keys": ["temperature", "conditions", "humidity"],
        },
        "images": {"tool": "get-tiny-image", "args": {}},
        "resources": {"uris": docs, "read": docs[1], "expect": "Everything Server"},
        "templates": {
            "template": "demo://resource/dynamic/text/{resourceId}",
            "read": "demo://resource/dynamic/text/7",
            "expect": "Resource 7",
        },
        "pagination": {"list": "tools", "names": base_tools},
        "prompts": {"prompt": "args-prompt", "args": {"city": "Oslo", "state": "Viken"}, "expect": "Oslo"},
        "completions": {
            "template": "demo://resource/dynamic/text/{resourceId}",
            "argument": "resourceId",
            "value": "42",
            "expect": "42",
        },
        # Its simulated logging sends a message of a random level when switched on (racing
        # the call's result), then one every 5 s on its own, outside any call: at level debug
        # (any level passes), one of those must arrive; then it is switched off.
        "logging": {"level": "debug", "calls": [toggle_logs], "later": 6, "finally": [toggle_logs]},
        "progress": {"tool": "trigger-long-running-operation", "args": {"duration": 0.6, "steps": 3}, "min": 3},
        # Its long-running tool does not stop on cancellation, nor say whether it saw one:
        # checked is that the call ends at once and the session goes on.
        "cancellation": {
            "tool": "trigger-long-running-operation",
            "args": {"duration": 20, "steps": 40},
            "after": {"tool": "echo", "args": {"message": "after"}},
        },
        # Switched on, it sends an update for each subscribed URI at once (then every 5 s).
        "subscriptions": {"uri": docs[0], "trigger": [toggle_updates, toggle_updates]},
        # It registers a session resource for the gzipped file: the resources list changes.
        "list-changed": {
            "list": "resources",
            "trigger": {
                "tool": "gzip-file-as-resource",
                "args": {
                    "name": "matrix-{nonce}.gz",
                    "data": "data:text/plain;base64," + base64.b64encode(b"matrix").decode(),
                    "outputType": "resourceLink",
                },
            },
            "new": "demo://resource/session/matrix-{nonce}.gz",
        },
        "sampling": {"tool": "trigger-sampling-request", "args": {"prompt": "matrix", "maxTokens": 20}},
        "elicitation": {"tool": "trigger-elicitation-request", "args": {}},
        "sampling-async": {"tool": "trigger-sampling-request-async", "args": {"prompt": "matrix", "maxTokens": 20}},
        "elicitation-async": {"tool": "trigger-elicitation-request-async", "args": {}},
    }


def not_offered(server: str, *features: str, **reasons: str) -> dict[str, str]:
    out = {f: f"{server} offers no {f}" for f in features}
    out.update({k.replace("_", "-"): v for k, v in reasons.items()})
    return out


def tools_only(server: str) -> dict[str, str]:
    """N/A reasons shared by the servers that only have tools."""
    return {
        **not_offered(server, "prompts", "completions", "logging", "subscriptions"),
        "progress": f"{server} reports no progress",
        "cancellation": f"{server} has no long-running tool to cancel",
        "list-changed": f"{server}'s lists do not change while it runs",
        "sampling": f"{server} never asks for sampling",
        "elicitation": f"{server} never asks for elicitation",
        "sampling-async": ONLY_EVERYTHING_ASYNC,
        "elicitation-async": ONLY_EVERYTHING_ASYNC,
    }


def upstreams(scratch: Path) -> list[Upstream]:
    """Every upstream; `scratch` holds the files the filesystem, memory and git servers use."""
    fs_root = scratch / "files"
    repo = scratch / "repo"
    node, py = str(NODE), str(PYTHON)
    py_server, ts_server = str(HERE / "servers" / "py_server.py"), str(HERE / "servers" / "ts_server.mjs")
    fs_tools = [
        "read_text_file",
        "read_media_file",
        "read_multiple_files",
        "write_file",
        "edit_file",
        "create_directory",
        "list_directory",
        "directory_tree",
        "move_file",
        "search_files",
        "get_file_info",
        "list_allowed_directories",
    ]
    memory_tools = ["create_entities", "create_relations", "add_observations", "read_graph", "search_nodes", "open_nodes"]
    git_tools = ["git_status", "git_diff", "git_commit", "git_add", "git_log", "git_show", "git_branch"]
    entity = {"entities": [{"name": "matrix-{nonce}", "entityType": "test", "observations": ["seen by the matrix"]}]}
    return [
        Upstream(
            "py-stdio",
            "Python SDK server, stdio",
            "stdio",
            {"type": "stdio", "command": py, "args": [py_server, "--transport", "stdio", "--tag", "py-stdio"]},
            own_server_checks("py-stdio"),
        ),
        Upstream(
            "py-http",
            "Python SDK server, Streamable HTTP",
            "network",
            {"type": "http", "url": "http://127.0.0.1:{port}/mcp"},
            own_server_checks("py-http"),
            serve=[py, py_server, "--transport", "http", "--port", "{port}", "--tag", "py-http"],
        ),
        Upstream(
            "py-sse",
            "Python SDK server, HTTP+SSE (2024-11-05)",
            "network",
            {"type": "sse", "url": "http://127.0.0.1:{port}/sse"},
            own_server_checks("py-sse"),
            serve=[py, py_server, "--transport", "sse", "--port", "{port}", "--tag", "py-sse"],
        ),
        Upstream(
            "ts-stdio",
            "TypeScript SDK server, stdio",
            "stdio",
            {"type": "stdio", "command": node, "args": [ts_server, "stdio", "ts-stdio"]},
            own_server_checks("ts-stdio"),
        ),
        Upstream(
            "ts-http",
            "TypeScript SDK server, Streamable HTTP",
            "network",
            {"type": "http", "url": "http://127.0.0.1:{port}/mcp"},
            own_server_checks("ts-http"),
            serve=[node, ts_server, "http", "ts-http", "{port}"],
        ),
        Upstream(
            "everything-stdio",
            "server-everything, stdio",
            "stdio",
            {"type": "stdio", "command": node, "args": [str(EVERYTHING), "stdio"]},
            everything_checks(),
        ),
        Upstream(
            "everything-http",
            "server-everything, Streamable HTTP",
            "network",
            {"type": "http", "url": "http://127.0.0.1:{port}/mcp"},
            everything_checks(),
            serve=[node, str(EVERYTHING), "streamableHttp"],
            env={"PORT": "{port}"},
        ),
        Upstream(
            "filesystem",
            "server-filesystem, stdio",
            "stdio",
            {
                "type": "stdio",
                "command": node,
                "args": [str(NODE_MODULES / "server-filesystem" / "dist" / "index.js"), str(fs_root)],
            },
            {
                "tools": {
                    "tool": "read_text_file",
                    "args": {"path": str(fs_root / "hello.txt")},
                    "expect": "hello from the matrix",
                },
                "structured": {"tool": "read_text_file", "args": {"path": str(fs_root / "hello.txt")}, "keys": ["content"]},
                "images": {"tool": "read_media_file", "args": {"path": str(fs_root / "tiny.png")}},
                "pagination": {"list": "tools", "names": fs_tools},
                **not_offered("server-filesystem", "resources", "templates"),
                **tools_only("server-filesystem"),
            },
        ),
        Upstream(
            "memory",
            "server-memory, stdio",
            "stdio",
            {
                "type": "stdio",
                "command": node,
                "args": [str(NODE_MODULES / "server-memory" / "dist" / "index.js")],
                "env": {"MEMORY_FILE_PATH": str(scratch / "memory.jsonl")},
            },
            {
                **tools_only("server-memory"),
                "tools": {"tool": "create_entities", "args": entity, "expect": "matrix-"},
                "structured": {"tool": "read_graph", "args": {}, "keys": ["entities", "relations"]},
                "images": "server-memory returns no images",
                "resources": {"uris": ["memory://knowledge-graph"], "read": "memory://knowledge-graph"},
                "templates": "server-memory offers no resource templates",
                "pagination": {"list": "tools", "names": memory_tools},
                # Every change to the graph updates its one resource.
                "subscriptions": {
                    "uri": "memory://knowledge-graph",
                    "trigger": [{"tool": "create_entities", "args": entity}],
                },
            },
        ),
        Upstream(
            "time",
            "mcp-server-time, stdio",
            "stdio",
            {"type": "stdio", "command": str(TOOLS / "matrix-venv" / "bin" / "mcp-server-time"), "args": ["--local-timezone", "UTC"]},
            {
                **tools_only("mcp-server-time"),
                "tools": {"tool": "get_current_time", "args": {"timezone": "Europe/Oslo"}, "expect": "Europe/Oslo"},
                "structured": {
                    "tool": "convert_time",
                    "args": {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
                    "keys": ["source", "target", "time_difference"],
                },
                "images": "mcp-server-time returns no images",
                **not_offered("mcp-server-time", "resources", "templates"),
                # Its two tools fit one page at its own endpoint; at /mcp they are in a long list.
                "pagination": {
                    "list": "tools",
                    "names": ["get_current_time", "convert_time"],
                    "na_route": {"server": f"mcp-server-time lists 2 tools, fewer than a page ({PAGE_SIZE})"},
                },
            },
        ),
        Upstream(
            "git",
            "mcp-server-git, stdio",
            "stdio",
            {"type": "stdio", "command": str(TOOLS / "matrix-venv" / "bin" / "mcp-server-git"), "args": ["--repository", str(repo)]},
            {
                **tools_only("mcp-server-git"),
                "tools": {"tool": "git_log", "args": {"repo_path": str(repo), "max_count": 1}, "expect": "matrix commit"},
                "structured": "mcp-server-git's tools declare no output schema (text results only)",
                "images": "mcp-server-git returns no images",
                **not_offered("mcp-server-git", "resources", "templates"),
                "pagination": {"list": "tools", "names": git_tools},
            },
        ),
    ]
