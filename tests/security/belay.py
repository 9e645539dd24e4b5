"""The `belay` processes a case attacks: `belay up` on a fresh data folder and port 0 with
`--json` (and a belay.toml of its own), `belay auth serve`, `belay serve NAME --auth`, and
the CLI commands an administrator runs beside them (`belay auth user add`, `belay auth client
add`, `belay audit verify`).

Every process gets the suite's scratch folder as its home for state: the audit key and its
head files go there (`BELAY_AUDIT__KEY_FILE`), never into the user's ~/.config, and nothing
is read from the user's own configuration (`BELAY_CONFIG` and the log variables removed).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


def belay_bin() -> str:
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    return os.environ.get("BELAY_BIN") or str(Path(target) / "debug" / "belay")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scratch:
    """The suite's own folder: data folders, configs, logs and the audit key, removed at exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.key_file = root / "keys" / "audit.key"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("BELAY_CONFIG", "RUST_LOG", "BELAY_LOG")}
        env = {k: v for k, v in env.items() if not (k.startswith("BELAY_") and "__" in k)}
        env["BELAY_AUDIT__KEY_FILE"] = str(self.key_file)
        env["BELAY_DATA_DIR"] = str(self.root / "default-data")
        env["XDG_CONFIG_HOME"] = str(self.root / "config-home")
        env["NO_COLOR"] = "1"
        return env

    def path(self, name: str) -> Path:
        return self.root / name


# Processes started and not yet stopped, for the SIGTERM handler.
LIVE: set[subprocess.Popen[bytes]] = set()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    """SIGTERM (a graceful stop), then SIGKILL if it lingers; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    LIVE.discard(proc)
    return proc.returncode


def stop_all_on_sigterm(cleanup: Callable[[], None]) -> None:
    """On SIGTERM (the stage's time limit) or Ctrl-C: kill what we started, run `cleanup`,
    exit at once (unwinding a case blocked on a socket could take its whole timeout)."""

    def handler(signum: int, _frame: object) -> None:
        for proc in list(LIVE):
            with contextlib.suppress(Exception):
                proc.kill()
        with contextlib.suppress(Exception):
            cleanup()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Process:
    """One long-running belay command, its stderr in a log file."""

    def __init__(self, scratch: Scratch, label: str, args: list[str], config: str | None = None) -> None:
        self.scratch = scratch
        self.label = label
        self.log_path = scratch.path(f"{label}.log")
        self.config_path: Path | None = None
        cmd = [belay_bin()]
        if config is not None:
            self.config_path = scratch.path(f"{label}.toml")
            self.config_path.write_text(config)
            cmd += ["--config", str(self.config_path)]
        self.cmd = cmd + args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as err:
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=self.scratch.env()
            )
        LIVE.add(self.proc)

    def first_stdout_line(self) -> str:
        """The first line on stdout; the rest is drained in the background."""
        assert self.proc and self.proc.stdout
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT_S)
        if not ready:
            raise RuntimeError(f"{self.label} printed nothing in {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")
        line = self.proc.stdout.readline().decode()
        out = self.proc.stdout
        threading.Thread(target=lambda: [None for _ in out], daemon=True).start()
        if not line:
            raise RuntimeError(f"{self.label} printed nothing and exited ({self.proc.poll()}):\n{self.log_tail()}")
        return line

    def stop(self) -> int:
        return stop_process(self.proc) if self.proc else 0

    def alive(self) -> bool:
        return bool(self.proc) and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def run_cli(scratch: Scratch, args: list[str], config: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [belay_bin()] + (["--config", str(config)] if config else []) + args
    return subprocess.run(cmd, capture_output=True, text=True, input=stdin, env=scratch.env(), timeout=60)


class Up(Process):
    """`belay up --port 0 --json --data-dir DIR` with a belay.toml of its own."""

    def __init__(self, scratch: Scratch, label: str, config: str = "", data: Path | None = None) -> None:
        self.data = data or scratch.path(f"{label}-data")
        super().__init__(scratch, label, ["up", "--port", "0", "--json", "--data-dir", str(self.data)], config)
        self.info: dict[str, Any] = {}

    def start_process_only(self) -> None:
        """Starts the process without waiting for its banner (for one that must refuse)."""
        super().start()

    def start(self) -> None:
        super().start()
        try:
            self.info = json.loads(self.first_stdout_line())
            if not self.info.get("issuer"):
                raise RuntimeError(f"belay up printed no issuer: {self.info}")
        except BaseException:
            self.stop()
            raise

    @property
    def base(self) -> str:
        return self.info["issuer"]

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    @property
    def mcp(self) -> str:
        return self.info["gateway"]["url"]

    def server(self, name: str, transport: str = "mcp") -> str:
        return f"{self.base}/servers/{name}/{transport}"

    @property
    def demo_password(self) -> str:
        return self.info["user"]["password"]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A `belay` command on this instance's data folder and configuration."""
        return run_cli(self.scratch, list(args) + ["--data-dir", str(self.data)], self.config_path)

    def add_user(self, name: str, password: str) -> str:
        """Adds a person who can sign in; returns their id (the `sub` of their tokens)."""
        added = self.cli("auth", "user", "add", name, "--password", password)
        if added.returncode != 0:
            raise RuntimeError(f"cannot add user {name}: {added.stderr}")
        listed = self.cli("auth", "user", "list", "--json")
        return next(u["id"] for u in json.loads(listed.stdout) if u["username"] == name)

    def add_client(self, client_id: str, *flags: str) -> dict[str, Any]:
        """An administrator's client (`belay auth client add ID --json FLAGS…`), with its secret."""
        added = self.cli("auth", "client", "add", client_id, "--json", *flags)
        if added.returncode != 0:
            raise RuntimeError(f"cannot add client {client_id}: {added.stderr}")
        return json.loads(added.stdout)


def wait_for_port(proc: Process, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.label} exited before listening:\n{proc.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.label} did not listen on {port}:\n{proc.log_tail()}")
