"""Files another local user could read: the data folder is 0700 and everything in it 0600,
the audit key too (outside the data folder); a store, folder or key left open to others
is refused at start with the chmod that fixes it, and starts again once fixed."""

from __future__ import annotations

import os
import stat

from belay import Up, stop_process
from harness import Area, expect

AREA = Area("files", "permissions of the data folder, the store, secrets and the audit key", closing=True)
case = AREA.case


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def start_refused(w, fix: str) -> str:
    """`belay up` on main's data folder must refuse to start, printing `fix`."""
    again = Up(w.scratch, "main-again", data=w.main.data)
    again.start_process_only()
    code = again.proc.wait(timeout=30)
    log = again.log()
    expect(code != 0 and fix in log, f"exit {code}, wanted `{fix}` in: {log[-400:]}")
    line = next((l for l in log.splitlines() if fix in l), "")
    return " ".join(line.split())[:220]


def starts(w) -> None:
    again = Up(w.scratch, "main-again", data=w.main.data)
    again.start()
    expect(again.info.get("gateway") and again.info["user"]["password"] is None, f"restart: {again.info}")
    stop_process(again.proc)


@case("the data folder is 0700 and every file in it 0600")
def _(w):
    w.stop_main()
    data = w.main.data
    expect(mode(data) == 0o700, f"{data}: {oct(mode(data))}")
    opened = [f"{p.name} {oct(mode(p))}" for p in data.rglob("*") if mode(p) & 0o077]
    expect(not opened, f"open to others: {opened}")
    names = sorted(p.name for p in data.iterdir())
    expect({"belay.db", "gateway-client.secret", "audit.jsonl"} <= set(names), f"files: {names}")
    return f"0700 with {', '.join(names)}: none readable by others"


@case("the audit key is 0600 in a 0700 folder outside the data folder")
def _(w):
    key = w.scratch.key_file
    expect(key.is_file() and mode(key) == 0o600 and mode(key.parent) == 0o700
           and w.main.data not in key.parents, f"{key}: {oct(mode(key))}, folder {oct(mode(key.parent))}")
    return f"{key.name} 0600 in {key.parent.name}/ 0700"


@case("a store left readable by others is refused with the chmod to run; fixed, it starts")
def _(w):
    w.stop_main()
    db = w.main.data / "belay.db"
    os.chmod(db, 0o644)
    try:
        saw = start_refused(w, f"chmod 600 {db}*")
    finally:
        os.chmod(db, 0o600)
    starts(w)
    return saw + "; after the chmod it starts"


@case("a data folder others can write is refused with the chmod to run")
def _(w):
    w.stop_main()
    data = w.main.data
    os.chmod(data, 0o777)
    try:
        saw = start_refused(w, f"chmod 700 {data}")
    finally:
        os.chmod(data, 0o700)
    starts(w)
    return saw


@case("an audit key readable by others is refused with the chmod to run")
def _(w):
    w.stop_main()
    key = w.scratch.key_file
    os.chmod(key, 0o644)
    try:
        saw = start_refused(w, f"chmod 600 {key}")
    finally:
        os.chmod(key, 0o600)
    starts(w)
    return saw
