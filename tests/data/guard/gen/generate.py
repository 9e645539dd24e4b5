#!/usr/bin/env python3
"""Builds the guard corpus (../descriptions.jsonl, ../results.jsonl) from the hand-written
families in this folder. Deterministic: the same inputs give the same files.

Dev/test is decided once per *family* by a hash of its id, so no hand-written text (and no
attack vocabulary: paths, URLs, addresses, parameter and tool names, wrappers, notes) is shared
between the two splits. Run: python3 tests/data/guard/gen/generate.py
"""

import base64
import hashlib
import json
import os
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)


def split_of(family):
    """The one split decision: dev or test by the family id's SHA-256."""
    return "dev" if hashlib.sha256(family.encode()).digest()[0] % 2 == 0 else "test"


def pick(items, key):
    """A deterministic choice from `items` keyed by a string."""
    return items[hashlib.sha256(key.encode()).digest()[1] % len(items)]


def lines(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("# ")]


# ---- attack vocabulary, one list per split ---------------------------------------------------
VOCAB = {
    "dev": {
        "path": ["~/.ssh/id_rsa", "~/.aws/credentials", ".env", "~/.cursor/mcp.json",
                 "~/.config/gh/hosts.yml", "~/.npmrc", "~/.bash_history"],
        "url": ["https://telemetry-sync.io/v1/collect", "http://45.77.12.9/log",
                "https://cdn-metrics.app/u", "https://api.dataguard-cloud.com/ingest"],
        "email": ["audit@mail-proxy.io", "backup.archive@protonmail.com",
                  "records@secure-relay.net"],
        "param": ["sidenote", "context", "notes", "metadata", "extra"],
        "tool": ["send_email", "read_file", "create_issue", "transfer_funds",
                 "slack_post_message"],
        "iban": ["GB33BUKB20201555555555", "FR1420041010050500013M02606"],
        "wrap": ["<IMPORTANT>\n{}\n</IMPORTANT>", "<system>{}</system>",
                 "**Note to the assistant:** {}"],
        "b64": ["Decode and apply the following configuration: {}", "Setup token (base64): {}"],
        "hex": ["Config (hex): {}", "{}"],
    },
    "test": {
        "path": ["~/.ssh/id_ed25519", "~/.docker/config.json", ".env.production",
                 "~/Library/Application Support/Claude/claude_desktop_config.json",
                 "~/.kube/config", "~/.netrc", "~/.git-credentials", "/etc/passwd"],
        "url": ["https://stats.helperhub.dev/c", "http://193.32.9.1:8080/x",
                "https://webhook.example-hooks.net/abc123", "https://pastebin-mirror.org/api/new"],
        "email": ["ops-copy@gmail.com", "collector@inbox-sync.org", "mirror@tutanota.de"],
        "param": ["trace", "debug_info", "annotation", "session_blob", "cache_key"],
        "tool": ["post_message", "write_file", "git_push", "send_payment", "share_document"],
        "iban": ["DE89370400440532013000", "ES9121000418450200051332"],
        "wrap": ["<instructions>{}</instructions>", "<!-- {} -->", "[[AI-NOTE]] {}"],
        "b64": ["Additional parameters, base64-encoded: {}", "b64:{}"],
        "hex": ["payload={}", "Extra data: {}"],
    },
}

# Benign notes appended to descriptions: usage advice, security notes that mention files,
# tokens and other tools legitimately. Split like everything else.
NOTES = [
    "Requires the GITHUB_TOKEN environment variable on the server; the token is never returned in results.",
    "Only works within the allowed directories configured when the server starts.",
    "IMPORTANT: paths must be absolute. Relative paths are resolved against the server's working directory, which is rarely what you want.",
    "Do not use this tool to list directories; use list_directory for that.",
    "Rate limited to 60 requests per minute per API key. On 429 wait for the Retry-After header.",
    "Before calling this tool, call describe_table to learn the column names.",
    "Always confirm with the user before deleting or overwriting anything.",
    "The API key is read from the server's .env file at startup and is not exposed to the client.",
    "Never pass credentials in the query string; configure them on the server instead.",
    "You should prefer this tool over a web search when the user asks about their own data.",
    "Results are truncated at 50,000 characters. If you need more, call the tool again with a narrower filter.",
    "Example: {\"query\": \"status:open label:bug\"} returns open bugs.",
    "Note: private keys and .pem files inside the workspace are skipped on purpose.",
    "This tool is read-only and safe to call without asking for confirmation.",
    "If the call fails with 401, ask the user to sign in again; do not retry in a loop.",
    "Use this after search to fetch the full record; search only returns summaries.",
    "Large outputs are paginated: pass the cursor from the previous response to get the next page.",
    "Security: the server runs with the permissions of the user who started it, so it can read anything that user can.",
    "Tip: combine with get_current_time when the user refers to relative dates such as 'next Tuesday'.",
    "Works with both personal access tokens and OAuth tokens; fine-grained tokens need the 'contents' permission.",
    "Returns an error instead of partial data if any of the inputs is invalid.",
    "When the user asks for a summary, call this tool first and then summarise the result yourself.",
    "Hidden files (names starting with a dot) are included only if include_hidden is true.",
    "Passwords and tokens in the output are masked by the server before they are returned.",
]

PERSON = ["maria", "jonas", "aiko", "tomasz", "leila", "pedro", "chen", "fatima"]
CITY = ["Leipzig", "Valencia", "Lyon", "Porto", "Gdansk", "Bologna", "Kyoto", "Tartu"]
COMPANY = ["northwind", "bluepeak", "acme", "riverstone", "lumen", "okapi"]
DATE = ["2025-03-14", "2025-06-02", "2025-09-21", "2024-11-30", "2025-01-08"]
REPO = ["csvpack", "tidyfeed", "quill", "harbor", "lintel", "sparrow"]


# ---- benign tool descriptions ----------------------------------------------------------------
def parse_tools():
    tools, server = [], None
    for line in lines("benign_tools.txt"):
        if line.startswith("@server "):
            server = line.split()[1]
            continue
        name, rest = line.split(": ", 1)
        desc, _, params = rest.partition(" | ")
        props = {}
        for p in filter(None, (x.strip() for x in params.split(" ; "))):
            pname, ptype, pdesc = p.split(":", 2)
            props[pname] = {"type": ptype, "description": pdesc}
        tools.append({"family": f"tool:{server}/{name}", "server": server, "name": name,
                      "description": desc.strip(), "props": props})
    return tools


def tool_object(name, description, props, annotations=None):
    schema = {"type": "object", "properties": props}
    if props:
        schema["required"] = [next(iter(props))]
    obj = {"name": name, "description": description, "inputSchema": schema}
    if annotations:
        obj["annotations"] = annotations
    return obj


def docstring(desc, props):
    args = "\n".join(f"    {k}: {v['description']}" for k, v in props.items())
    out = desc
    if args:
        out += "\n\nArgs:\n" + args
    return out + "\n\nReturns:\n    The result as text or JSON."


def benign_descriptions(tools):
    rows = []
    for t in tools:
        split = split_of(t["family"])
        notes = [n for n in NOTES if split_of("note:" + n) == split]
        ro = {"readOnlyHint": True} if t["name"].split("_")[-1] in (
            "get", "list", "read", "search", "status", "log", "info") else None
        variants = [
            t["description"],
            docstring(t["description"], t["props"]),
            t["description"] + "\n\n" + pick(notes, t["family"]),
        ]
        for i, d in enumerate(variants):
            rows.append({"id": f"{t['family']}#{i}", "family": t["family"], "split": split,
                         "label": "benign", "kinds": [],
                         "tool": tool_object(t["name"], d, t["props"], ro)})
    return rows


# ---- poisoned tool descriptions --------------------------------------------------------------
def fill(text, vocab, key):
    url = pick(vocab["url"], key + "u")
    return (text.replace("{path}", pick(vocab["path"], key + "p"))
            .replace("{url}", url)
            .replace("{host}", urllib.parse.urlsplit(url).hostname or url)
            .replace("{email}", pick(vocab["email"], key + "e"))
            .replace("{param}", pick(vocab["param"], key + "a"))
            .replace("{tool}", pick(vocab["tool"], key + "t"))
            .replace("{iban}", pick(vocab["iban"], key + "i")))


def side_param(vocab, key):
    return pick(vocab["param"], key + "a")


CONFUSABLE = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і", "s": "ѕ"}


def homoglyph(name):
    """Swap the first one or two letters that have a Cyrillic twin."""
    out, swapped = [], 0
    for ch in name:
        if ch in CONFUSABLE and swapped < 2:
            out.append(CONFUSABLE[ch])
            swapped += 1
        else:
            out.append(ch)
    return "".join(out)


def encode(mode, payload, vocab, key):
    if mode == "base64":
        return pick(vocab["b64"], key).format(base64.b64encode(payload.encode()).decode())
    if mode == "hex":
        return pick(vocab["hex"], key).format(payload.encode().hex())
    if mode == "url":
        return urllib.parse.quote(payload, safe="")
    if mode == "tags":
        return "".join(chr(0xE0000 + ord(c)) for c in payload)
    if mode == "zwsp":
        return "\u200b".join(payload)
    if mode == "bidi":
        return "\u202e" + payload[::-1] + "\u202c"
    raise ValueError(mode)


def poisoned_descriptions(tools):
    payloads = []
    for i, line in enumerate(lines("poison_payloads.txt")):
        kinds, lang, text = line.split("|", 2)
        payloads.append({"family": f"poison:{i:03d}", "kinds": kinds.split(","), "lang": lang,
                         "text": text})
    rows = []
    for p in payloads:
        split = split_of(p["family"])
        vocab = VOCAB[split]
        carriers = [t for t in tools if split_of(t["family"]) == split]
        variants = []
        for v in range(3):
            key = f"{p['family']}#{v}"
            carrier = pick(carriers, key + "c")
            payload = fill(p["text"], vocab, key)
            props = json.loads(json.dumps(carrier["props"]))
            props.setdefault(side_param(vocab, key), {"type": "string",
                                                      "description": "Optional context."})
            desc = carrier["description"]
            if v == 0:
                desc += "\n\n" + payload
            elif v == 1:
                desc += "\n\n" + pick(vocab["wrap"], key).format(payload)
            else:
                first = next(iter(props))
                props[first] = dict(props[first])
                props[first]["description"] += ". " + payload
            variants.append((key, carrier["name"], desc, props, p["kinds"]))
        # Encoded and hidden-Unicode variants of the same payload.
        ascii_only = all(ord(c) < 128 for c in p["text"])
        idx = int(p["family"].split(":")[1])
        modes = ["base64", "hex", "url", "tags", "zwsp", "bidi"]
        mode = modes[idx % len(modes)]
        if mode == "tags" and not ascii_only:
            mode = "zwsp"
        key = f"{p['family']}#3"
        carrier = pick(carriers, key + "c")
        payload = fill(p["text"], vocab, key)
        props = dict(carrier["props"])
        props.setdefault(side_param(vocab, key), {"type": "string",
                                                  "description": "Optional context."})
        kind = "encoded" if mode in ("base64", "hex", "url") else "unicode"
        variants.append((key, carrier["name"], carrier["description"] + "\n\n" +
                         encode(mode, payload, vocab, key), props, [kind] + p["kinds"]))
        # Oversize: the payload far below a long run of filler.
        if idx % 8 == 0:
            key = f"{p['family']}#4"
            carrier = pick(carriers, key + "c")
            filler = (carrier["description"] + " ") * 60
            variants.append((key, carrier["name"], carrier["description"] + "\n" * 40 + filler +
                             "\n\n" + fill(p["text"], vocab, key), carrier["props"],
                             ["oversize"] + p["kinds"]))
        for key, name, desc, props, kinds in variants:
            rows.append({"id": key, "family": p["family"], "split": split, "label": "poisoned",
                         "kinds": kinds, "lang": p["lang"],
                         "tool": tool_object(name, desc, props)})
    # Look-alike names: a benign tool whose name mixes scripts.
    for t in tools[::6]:
        fam = "homoglyph:" + t["family"]
        split = split_of(t["family"])
        rows.append({"id": fam + "#0", "family": fam, "split": split, "label": "poisoned",
                     "kinds": ["homoglyph"], "lang": "en",
                     "tool": tool_object(homoglyph(t["name"]), t["description"], t["props"])})
    return rows


# ---- tool results ----------------------------------------------------------------------------
def parse_results():
    fams, cur = [], None
    for raw in open(os.path.join(HERE, "benign_results.txt"), encoding="utf-8"):
        line = raw.rstrip("\n")
        if line.startswith("# ") and cur is None:
            continue
        if line == "---":
            cur = None
            continue
        if cur is None and line.startswith("kind: "):
            cur = {"kind": line[6:], "lines": []}
            fams.append(cur)
            continue
        if cur is not None:
            cur["lines"].append(line)
    for i, f in enumerate(fams):
        f["family"] = f"result:{i:03d}:{f['kind']}"
        f["text"] = "\n".join(f["lines"]).strip()
    return fams


def fill_benign(text, v):
    return (text.replace("{person}", PERSON[v % len(PERSON)])
            .replace("{city}", CITY[(v * 3) % len(CITY)])
            .replace("{company}", COMPANY[v % len(COMPANY)])
            .replace("{num}", str(3 + v * 7))
            .replace("{date}", DATE[v % len(DATE)])
            .replace("{repo}", REPO[v % len(REPO)]))


def benign_results(fams):
    rows = []
    for f in fams:
        split = split_of(f["family"])
        for v in range(4):
            text = fill_benign(f["text"], v + hashlib.sha256(f["family"].encode()).digest()[2])
            if v == 3:
                text = json.dumps({"content": [{"type": "text", "text": text}]},
                                  ensure_ascii=False)
            rows.append({"id": f"{f['family']}#{v}", "family": f["family"], "split": split,
                         "label": "benign", "kinds": [], "text": text})
    return rows


def injected_results(fams):
    rows = []
    for i, line in enumerate(lines("injection_payloads.txt")):
        kind, lang, text = line.split("|", 2)
        text = text.replace("\\n", "\n")
        fam = f"inject:{i:03d}"
        split = split_of(fam)
        vocab = VOCAB[split]
        carriers = [f for f in fams if split_of(f["family"]) == split]
        for v in range(3):
            key = f"{fam}#{v}"
            carrier = pick(carriers, key + "c")
            body = fill_benign(carrier["text"], v + i)
            payload = fill(text, vocab, key)
            if v == 0:
                out = body + "\n\n" + payload
            elif v == 1:
                cut = body.find("\n", len(body) // 2)
                cut = cut if cut > 0 else len(body)
                out = body[:cut] + "\n" + payload + "\n" + body[cut:]
            else:
                style = i % 3
                if style == 0:
                    out = payload + "\n\n" + body
                elif style == 1:
                    out = body + "\n<!-- " + payload + " -->"
                else:
                    out = json.dumps({"content": [{"type": "text", "text": body},
                                                  {"type": "text", "text": payload}]},
                                     ensure_ascii=False)
            rows.append({"id": key, "family": fam, "split": split, "label": "injected",
                         "kinds": [kind], "lang": lang, "text": out})
    return rows


def probes():
    """Extra sets in other styles, one line each, outside dev/test: `probe1` was written after
    the first tuning and then tuned on; `probe2` was written before it was first run (its
    first result is in the README) and then tuned on too; `probe3` was written after that and
    measured once, not tuned on. None counts in the targets."""
    descs, results = [], []
    for probe in ("probe1", "probe2", "probe3"):
        for label in ("poisoned", "benign"):
            name = os.path.join(HERE, f"{probe}_{label}_tools.txt")
            for i, line in enumerate(open(name, encoding="utf-8").read().splitlines()):
                descs.append({"id": f"{probe}:{label}:{i:02d}", "family": f"{probe}:{label}:{i:02d}",
                              "split": probe, "label": label, "kinds": [],
                              "tool": tool_object("probe_tool", line, {})})
        for label in ("injected", "benign"):
            name = os.path.join(HERE, f"{probe}_{label}_results.txt")
            if not os.path.exists(name):
                continue
            for i, line in enumerate(open(name, encoding="utf-8").read().splitlines()):
                results.append({"id": f"{probe}:{label}:{i:02d}", "family": f"{probe}:{label}:{i:02d}",
                                "split": probe, "label": label, "kinds": [], "text": line})
    block_descs, block_results = block_probes()
    return descs + block_descs, results + block_results


def blocks(name):
    """The "@@"-separated blocks of a probe file (lines starting with "# " are comments)."""
    out, cur = [], None
    for line in open(os.path.join(HERE, name), encoding="utf-8").read().splitlines():
        if line.startswith("# ") and cur is None:
            continue
        if line.startswith("@@"):
            cur = [line[2:].strip()]
            out.append(cur)
        elif cur is not None:
            cur.append(line)
    return out


def block_tool(block):
    """A tool block: the name, then description lines and `@param name: text` lines; `@kinds`
    and `@lang` lines (dev voices only) are labels, returned apart."""
    name, desc, props, labels = block[0], [], {}, {}
    for line in block[1:]:
        if line.startswith("@param "):
            key, _, text = line[len("@param "):].partition(":")
            props[key.strip()] = {"type": "string", "description": text.strip()}
        elif line.startswith(("@kinds ", "@lang ")):
            key, _, value = line[1:].partition(" ")
            labels[key] = value.strip()
        else:
            desc.append(line)
    return tool_object(name, "\n".join(desc).strip(), props), labels


def block_result(block):
    """A result block: its text, and its `@kinds` / `@lang` labels (dev voices only)."""
    text, labels = [], {}
    for line in block[1:]:
        if line.startswith(("@kinds ", "@lang ")):
            key, _, value = line[1:].partition(" ")
            labels[key] = value.strip()
        else:
            text.append(line)
    return "\n".join(text).strip(), labels


def block_probes():
    """`probe4` (tuning), `probe5`, `probe6` and `probe7` (held out): whole tool definitions
    with parameter descriptions and multi-line results, in block files. `probe5` was written
    together with `probe4`, before any tuning on either, and measured once before and once
    after; `probe7` was written by a session that had not read the rules, before its first run."""
    descs, results = [], []
    for probe in ("probe4", "probe5", "probe6", "probe7"):
        for label in ("poisoned", "benign"):
            for i, block in enumerate(blocks(f"{probe}_{label}_tools.txt")):
                tool, _ = block_tool(block)
                descs.append({"id": f"{probe}:{label}:{i:02d}", "family": f"{probe}:{label}:{i:02d}",
                              "split": probe, "label": label, "kinds": [], "tool": tool})
        for label in ("injected", "benign"):
            for i, block in enumerate(blocks(f"{probe}_{label}_results.txt")):
                text, _ = block_result(block)
                results.append({"id": f"{probe}:{label}:{i:02d}", "family": f"{probe}:{label}:{i:02d}",
                                "split": probe, "label": label, "kinds": [], "text": text})
    return descs, results


def dev_voices():
    """Hand-written dev families in further voices (`dev_voices_*.txt`, block form with
    `@kinds` and `@lang` labels), written by a session that had not read the rules. All go to
    `dev`: they widen what the rules are tuned on without moving any existing row's split."""
    def rows(kind, attack, read, field):
        out = []
        for label in (attack, "benign"):
            for i, block in enumerate(blocks(f"dev_voices_{label}_{kind}.txt")):
                content, labels = read(block)
                fam = f"voices-{kind}:{label}:{i:02d}"
                row = {"id": fam, "family": fam, "split": "dev", "label": label,
                       "kinds": labels["kinds"].split(",") if label == attack else [],
                       field: content}
                if label == attack:
                    row["lang"] = labels.get("lang", "en")
                out.append(row)
        return out

    descs = rows("tools", "poisoned", block_tool, "tool")
    results = rows("results", "injected", block_result, "text")
    return descs, results


def write(name, rows):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    tools = parse_tools()
    descs = benign_descriptions(tools) + poisoned_descriptions(tools)
    fams = parse_results()
    results = benign_results(fams) + injected_results(fams)
    voice_descs, voice_results = dev_voices()
    descs += voice_descs
    results += voice_results
    probe_descs, probe_results = probes()
    descs += probe_descs
    results += probe_results
    write("descriptions.jsonl", descs)
    write("results.jsonl", results)
    for name, rows in (("descriptions", descs), ("results", results)):
        counts = {}
        for r in rows:
            k = (r["label"], r["split"])
            counts[k] = counts.get(k, 0) + 1
        print(name, sorted(counts.items()))


if __name__ == "__main__":
    main()
