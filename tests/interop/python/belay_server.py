"""Start `belay serve stock` on a free loopback port for the interop clients.

Used two ways:

* as a module: ``with running_server("http") as url: ...`` (stock_session.py uses it when no
  --url is given);
* as a command that wraps another command, which is how tests/interop/run drives clients
  written in other languages:

      python belay_server.py http -- node stock_session.mjs {url}

  ``{url}`` in the wrapped command is replaced by the server's URL, which is also exported as
  BELAY_MCP_URL. The exit code is the wrapped command's (or 2 if the server never came up).

Only the standard library is used, so this works with any Python 3.10+.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HOST = "127.0.0.1"
MCP_PATH = "/mcp"
START_TIMEOUT_S = 30.0


def belay_bin() -> str:
    """The server binary under test: $BELAY_BIN, else the debug build (honouring $CARGO_TARGET_DIR)."""
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    return os.environ.get("BELAY_BIN") or str(Path(target) / "debug" / "belay")


def free_port() -> int:
    # Ask the kernel for an unused port. There is a small window before the server binds it,
    # which is acceptable on a test machine; a clash shows up as the server exiting early.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def url_for(transport: str, port: int) -> str:
    if transport == "http":
        return f"http://{HOST}:{port}{MCP_PATH}"
    if transport == "sse":
        # Legacy 2024-11-05 HTTP+SSE: the client GETs /sse and is told where to POST.
        return f"http://{HOST}:{port}/sse"
    raise ValueError(f"no URL for transport {transport!r}")


def server_command(transport: str, port: int | None = None) -> list[str]:
    cmd = [belay_bin(), "serve", "stock", "--transport", transport]
    if port is not None:
        cmd += ["--host", HOST, "--port", str(port), "--path", MCP_PATH]
    return cmd


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with code {proc.returncode} before listening on port {port}\n"
                + _tail(log_path)
            )
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on port {port} within {START_TIMEOUT_S:.0f}s\n" + _tail(log_path))


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no server log)"
    return "--- server log (tail) ---\n" + "\n".join(text) + "\n--- end server log ---"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the server shuts down gracefully), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


# Servers started by running_server() and not yet stopped, for the SIGTERM handler.
_LIVE: set[subprocess.Popen[bytes]] = set()


def stop_on_sigterm() -> None:
    """On SIGTERM (e.g. from `timeout`), stop the servers we started, then exit at once.

    Exiting from the handler rather than raising: unwinding an async client mid-request
    can hang, and then nothing would ever stop the server.
    """

    def handler(signum: int, _frame: object) -> None:
        for proc in list(_LIVE):
            with contextlib.suppress(Exception):
                _stop(proc)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def running(
    cmd: list[str], port: int, label: str, *, show_log_on_error: bool = True, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run `cmd` (a server that listens on `port`) until the block ends.

    Waits until the port accepts connections; on failure of the block, prints the tail of
    the process's log, which usually explains the client's side of the story. `env` is
    added to this process's environment for the server.
    """
    binary = cmd[0]
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"server binary {binary} is missing or not executable (cargo build -p belay?)")
    log_file = tempfile.NamedTemporaryFile(prefix=f"belay-{label}-", suffix=".log", delete=False)
    log_path = Path(log_file.name)
    # Same process group as us: a `timeout` that kills the test's group takes the server too.
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env} if env else None,
    )
    _LIVE.add(proc)
    log_file.close()
    try:
        try:
            _wait_for_port(proc, port, log_path)  # its error already carries the log tail
        except BaseException:
            _stop(proc)
            raise
        try:
            yield
        except BaseException:
            if show_log_on_error:
                print(_tail(log_path), file=sys.stderr)
            raise
        if proc.poll() is not None:
            raise RuntimeError(f"{label} exited (code {proc.returncode}) during the session\n" + _tail(log_path))
    finally:
        _stop(proc)
        _LIVE.discard(proc)
        with contextlib.suppress(OSError):
            log_path.unlink()


@contextlib.contextmanager
def running_server(transport: str, *, show_log_on_error: bool = True) -> Iterator[str]:
    """Run `belay serve stock` over http or sse; yield the URL a client should connect to."""
    port = free_port()
    with running(server_command(transport, port), port, transport, show_log_on_error=show_log_on_error):
        yield url_for(transport, port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("transport", choices=["http", "sse"])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS... ({url} is substituted)")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run after --")
    stop_on_sigterm()
    try:
        with running_server(args.transport) as url:
            env = dict(os.environ, BELAY_MCP_URL=url)
            rc = subprocess.call([part.replace("{url}", url) for part in command], env=env)
            if rc != 0:
                raise SystemExit(rc)
    except RuntimeError as exc:
        print(f"belay_server: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
