"""A/B of the worker's hot path, interleaved in one command (the machine is shared: noisy).

    .venv/bin/python -m bench.ab_worker [--rounds 3] [--actions 500]

Each round runs `bench.profile_action --no-profile` (in-process API + one worker against the
sandbox in its own process) once per variant, each in a fresh interpreter: `before` = the four
changes of BENCHMARKS.md (overhead) all undone: ORM claim/settle (`--legacy-store`), RQ's stock
`SimpleWorker` (`--stock-worker`), requests' per-call proxy lookup (`--trust-env`), redis-py's
pure-Python parser (`--no-hiredis`); then `current` minus one change at a time, and `current`.
Reports the median CPU per action of each variant and its ratio to `before`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from bench.common import RESULTS, ROOT, print_table, write_result

CHANGES = {"Core store statements": "--legacy-store", "RunWorker": "--stock-worker",
           "trust_env off": "--trust-env", "hiredis": "--no-hiredis"}
VARIANTS = {"before": list(CHANGES.values()),
            **{f"current without {name}": [flag] for name, flag in CHANGES.items()},
            "current": []}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_worker", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--actions", type=int, default=500)
    args = parser.parse_args(argv)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, flags in VARIANTS.items():
            subprocess.run([sys.executable, "-m", "bench.profile_action", "--no-profile",
                            "--actions", str(args.actions), *flags], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL, timeout=600)
            data = json.loads((RESULTS / "profile_action.json").read_text())
            samples[name].append({"api_ms": data["api_ms"], "worker_ms": data["worker_ms"]})
            print(f"{name}: worker {data['worker_ms']:.2f} ms, api {data['api_ms']:.2f} ms",
                  flush=True)
    medians = {name: {k: statistics.median(s[k] for s in runs) for k in ("api_ms", "worker_ms")}
               for name, runs in samples.items()}
    base = medians["before"]["worker_ms"]
    rows = [(name, f"{m['worker_ms']:.2f} ms", f"{m['worker_ms'] / base:.2f}",
             f"{m['api_ms']:.2f} ms") for name, m in medians.items()]
    print_table(f"Worker CPU per send_text action, in-process, median of {args.rounds}", rows,
                ("variant", "worker CPU/action", "vs before", "API CPU/action (test client)"))
    path = write_result("ab_worker", {"rounds": args.rounds, "actions": args.actions,
                                      "samples": samples, "medians": medians})
    print(f"results: {path}")
    return medians


if __name__ == "__main__":
    main()
