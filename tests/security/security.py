"""Belay's security suite: attacks replayed against the real `belay up` (and `belay auth
serve` + `belay serve --auth`), each a named case printing PASS or FAIL with what it saw.

    tests/security/run                    # every area
    tests/security/run tokens sessions    # some areas
    tests/security/run --case revoked     # cases whose name contains a text
    tests/security/run --list             # areas and their cases

The last line is the summary; the exit code is 1 if any case failed (2: could not start).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from belay import Scratch, belay_bin, stop_all_on_sigterm  # noqa: E402
from cases import AREAS  # noqa: E402
from harness import Case, Outcome, run_case, squeeze  # noqa: E402
from world import World  # noqa: E402

def show(outcome: Outcome) -> None:
    case = outcome.case
    word = "PASS" if outcome.passed else "FAIL"
    print(f"{word}  {case.area} / {case.name} -- {squeeze(outcome.saw, 400)}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("areas", nargs="*", help="areas to run (default: all)")
    parser.add_argument("--case", help="only cases whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list areas and cases, run nothing")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (data, logs)")
    args = parser.parse_args()

    known = {area.name: area for area in AREAS}
    unknown = [a for a in args.areas if a not in known]
    if unknown:
        parser.error(f"unknown area(s) {unknown}; areas: {', '.join(known)}")
    if args.list:
        for area in AREAS:
            print(f"{area.name} ({len(area.cases)}): {area.title}")
            for case in area.cases:
                print(f"    {case.name}")
        print(f"{sum(len(a.cases) for a in AREAS)} cases")
        return 0
    binary = belay_bin()
    if not Path(binary).is_file():
        print(f"security: {binary} missing; run cargo build -p belay (or set BELAY_BIN)", file=sys.stderr)
        return 2

    selected = [known[a] for a in args.areas] if args.areas else list(AREAS)
    selected.sort(key=lambda area: area.closing)
    scratch = Scratch(Path(tempfile.mkdtemp(prefix="belay-security-")))
    stop_all_on_sigterm(lambda: None if args.keep else shutil.rmtree(scratch.root, ignore_errors=True))
    world = World(scratch)
    outcomes: list[Outcome] = []
    started = time.monotonic()

    def run(case: Case) -> None:
        if args.case and args.case.lower() not in case.name.lower():
            return
        outcome = run_case(case, world)
        if outcome.later:
            later = outcome.later
            world.defer(case.area, case.name, later.seconds, later.check)
            return
        outcomes.append(outcome)
        show(outcome)

    def run_deferred() -> None:
        for item in sorted(world.deferred, key=lambda d: d.not_before):
            wait = item.not_before - time.monotonic()
            if wait > 0:
                print(f"      (waiting {wait:.0f} s for {item.area} / {item.name})", flush=True)
                time.sleep(wait)
            run(Case(item.area, item.name, lambda _w, item=item: item.run()))
        world.deferred.clear()

    try:
        for area in selected:
            if area.closing:
                run_deferred()
            print(f"== {area.name}: {area.title}", flush=True)
            for case in area.cases:
                run(case)
        run_deferred()
    finally:
        world.stop_all()
        if args.keep:
            print(f"servers' logs, configurations and data kept in {scratch.root}")
        else:
            shutil.rmtree(scratch.root, ignore_errors=True)

    failed = [o for o in outcomes if not o.passed]
    took = time.monotonic() - started
    print()
    if failed:
        print("Failed (--keep keeps the servers' logs):")
        for o in failed:
            print(f"  {o.case.area} / {o.case.name}")
    print(f"security: {len(outcomes) - len(failed)} passed, {len(failed)} failed, in {took:.0f} s")
    return 1 if failed or not outcomes else 0


if __name__ == "__main__":
    sys.exit(main())
