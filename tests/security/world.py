"""The servers under attack, started on first use and shared by the cases:

* `main`: `belay up` with a belay.toml of its own (policy rules, a rate limit, tight HTTP
  limits, small audit fields) and three people besides `demo`;
* `expiry`: `belay up` whose access tokens live 4 s, with no clock skew allowed;
* `removals`: `belay up` where an administrator removes a person and a client while their
  tokens are in use (main's stop is checked for ERROR lines; see the audit area);
* `pair`: `belay auth serve` and `belay serve weather --transport http --auth` trusting it;
* `elsewhere`: `belay auth serve` on main's own store under another issuer URL: the same
  signing key, so what tells its tokens apart at main's gateway is the issuer alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

import oauth
from belay import Process, Scratch, Up, free_port, run_cli, wait_for_port

MAIN_TOML = """
[auth_server]
registration_burst = 40
registration_per_minute = 10

[gateway.http]
max_body_bytes = 262144
request_timeout_secs = 2
header_read_timeout_secs = 2
max_connections_per_address = 24

[gateway.policy]
default = "allow"

[[gateway.policy.rules]]
id = "no-investment-advice"
description = "advice is for people: ask the desk"
effect = "deny"
upstreams = ["stock"]
names = ["get_investment_advice"]

[[gateway.policy.rules]]
id = "history-periods"
effect = "allow"
upstreams = ["stock"]
names = ["get_stock_history"]
arguments = { period = { enum = ["1d", "5d", "1mo"] }, symbol = { pattern = "[A-Z]{1,5}" } }

[[gateway.policy.rules]]
id = "short-expressions"
effect = "allow"
upstreams = ["matheval"]
names = ["evaluate"]
arguments = { expression = { max_length = 64 } }

[[gateway.rate_limits.tools]]
upstream = "news"
name = "search_news"
per_minute = 1
burst = 2
per_user = true

[audit]
max_field_bytes = 1024
max_record_bytes = 8192
"""

EXPIRY_TOML = """
[auth_server]
access_token_lifetime = 4

[resource]
clock_skew_secs = 0
"""


@dataclass
class Person:
    username: str
    password: str
    sub: str = ""


@dataclass
class Deferred:
    """A check that must wait (an authorization code's 60 s lifetime): run at the end."""

    area: str
    name: str
    not_before: float
    run: Callable[[], str]


class World:
    def __init__(self, scratch: Scratch) -> None:
        self.scratch = scratch
        self._main: Up | None = None
        self._expiry: Up | None = None
        self._removals: Up | None = None
        self._pair: tuple[Process, Process, str, str] | None = None
        self._elsewhere: tuple[Process, str] | None = None
        self.people: dict[str, Person] = {}
        self._kept: dict[str, Any] = {}
        self._tokens: dict[tuple[str, str], str] = {}
        self.deferred: list[Deferred] = []
        self.stopped_main: int | None = None
        # Why a server could not start: said again at once by every case that needs it.
        self._broken: dict[str, str] = {}

    def _start(self, name: str, start: Callable[[], Any]) -> Any:
        if name in self._broken:
            raise RuntimeError(f"{name} did not start: {self._broken[name]}")
        try:
            return start()
        except Exception as error:
            self._broken[name] = str(error)[:2000]
            raise

    # ---- main ----

    @property
    def main(self) -> Up:
        if self._main is None:
            self._main = self._start("main", self._start_main)
        return self._main

    def _start_main(self) -> Up:
        up = Up(self.scratch, "main", MAIN_TOML)
        up.start()
        self.people["demo"] = Person("demo", up.demo_password)
        for name in ("alice", "bob", "victim"):
            person = Person(name, f"{name}'s long passphrase")
            person.sub = up.add_user(person.username, person.password)
            self.people[name] = person
        return up

    @property
    def base(self) -> str:
        return self.main.base

    def person(self, name: str) -> Person:
        self.main
        return self.people[name]

    def kept(self, key: str, make: Callable[[], Any]) -> Any:
        """What `make` returns, made once per key and shared by the cases (clients, sessions)."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]

    def client(self, label: str = "default", **metadata: Any) -> oauth.Client:
        """A public client registered by DCR, one per label (with `metadata` the first time)."""
        return self.kept(f"client:{label}", lambda: oauth.new_client(self.base, name=f"suite {label}", **metadata))

    def tokens(self, user: str, resource: str, client: oauth.Client | None = None,
               scope: str | None = None) -> dict[str, Any]:
        """A fresh sign-in of `user` for `resource` (absolute, or a path under main's base)."""
        person = self.person(user)
        if resource.startswith("/"):
            resource = self.base + resource
        return oauth.tokens(self.base, client or self.client(), person.username, person.password, resource, scope)

    def token(self, user: str, resource: str) -> str:
        """An access token of `user` for `resource`, shared by the cases that only use it."""
        key = (user, resource)
        if key not in self._tokens:
            self._tokens[key] = self.tokens(user, resource)["access_token"]
        return self._tokens[key]

    def stop_main(self) -> int:
        """Stops main (SIGTERM) once; its exit code."""
        if self.stopped_main is None:
            self.stopped_main = self.main.stop()
        return self.stopped_main

    # ---- the others ----

    @property
    def expiry(self) -> Up:
        if self._expiry is None:
            up = Up(self.scratch, "expiry", EXPIRY_TOML)
            self._start("expiry", up.start)
            self._expiry = up
        return self._expiry

    @property
    def removals(self) -> Up:
        """`belay up` with `carol`, whom the removal cases remove."""
        if self._removals is None:
            def start() -> Up:
                up = Up(self.scratch, "removals", "")
                up.start()
                try:
                    carol = Person("carol", "carol's long passphrase")
                    carol.sub = up.add_user(carol.username, carol.password)
                except BaseException:
                    up.stop()
                    raise
                self.people["removals:carol"] = carol
                return up

            self._removals = self._start("removals", start)
        return self._removals

    @property
    def pair(self) -> tuple[str, str, Person]:
        """(issuer, weather's /mcp URL, a user of that issuer)."""
        if self._pair is None:
            self._pair = self._start("pair", self._start_pair)
        _, _, issuer, url = self._pair
        return issuer, url, self.people["pair:alice"]

    def _start_pair(self) -> tuple[Process, Process, str, str]:
        data = self.scratch.path("pair-data")
        person = Person("alice", "alice's long passphrase")
        added = run_cli(self.scratch, ["auth", "user", "add", person.username, "--password", person.password,
                                       "--data-dir", str(data)])
        if added.returncode != 0:
            raise RuntimeError(f"cannot add a user to the pair's store: {added.stderr}")
        auth_port, weather_port = free_port(), free_port()
        issuer = f"http://127.0.0.1:{auth_port}"
        auth = Process(self.scratch, "pair-auth", ["auth", "serve", "--port", str(auth_port), "--data-dir", str(data)])
        weather = Process(self.scratch, "pair-weather", ["serve", "weather", "--transport", "http", "--port",
                                                          str(weather_port), "--auth", "--issuer", issuer])
        try:
            auth.start()
            wait_for_port(auth, auth_port)
            weather.start()
            wait_for_port(weather, weather_port)
        except BaseException:
            weather.stop()
            auth.stop()
            raise
        self.people["pair:alice"] = person
        return auth, weather, issuer, f"http://127.0.0.1:{weather_port}/mcp"

    def pair_client(self) -> oauth.Client:
        """A service client an administrator added to the pair's store (client credentials)."""
        def make() -> oauth.Client:
            self.pair
            added = run_cli(self.scratch, ["auth", "client", "add", "robot", "--json", "--data-dir",
                                           str(self.scratch.path("pair-data"))])
            if added.returncode != 0:
                raise RuntimeError(f"cannot add the pair's robot: {added.stderr}")
            made = json.loads(added.stdout)
            return oauth.Client(made["client_id"], "", made["client_secret"])

        return self.kept("pair:robot", make)

    @property
    def elsewhere(self) -> str:
        """The issuer URL of an authorization server sharing main's store and keys."""
        if self._elsewhere is None:
            self._elsewhere = self._start("elsewhere", self._start_elsewhere)
        return self._elsewhere[1]

    def _start_elsewhere(self) -> tuple[Process, str]:
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        proc = Process(self.scratch, "elsewhere", ["auth", "serve", "--port", str(port), "--issuer", issuer,
                                                   "--data-dir", str(self.main.data)])
        proc.start()
        try:
            wait_for_port(proc, port)
        except BaseException:
            proc.stop()
            raise
        return proc, issuer

    def defer(self, area: str, name: str, seconds: float, run: Callable[[], str]) -> None:
        self.deferred.append(Deferred(area, name, time.monotonic() + seconds, run))

    def stop_all(self) -> None:
        for proc in (self._main, self._expiry, self._removals):
            if proc is not None:
                proc.stop()
        if self._pair is not None:
            self._pair[1].stop()
            self._pair[0].stop()
        if self._elsewhere is not None:
            self._elsewhere[0].stop()
