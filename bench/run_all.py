"""`make bench`: every benchmark of BENCHMARKS.md, one after the other (they share Redis db 8).

    .venv/bin/python -m bench.run_all [--quick]

`--quick` uses smaller counts (a smoke run, not the published numbers). Runs take about
overhead 3 min, throughput 2 min, rate_limited 3 min, recovery 1.5 min.
"""

from __future__ import annotations

import argparse
import time

from bench import overhead, rate_limited, recovery, throughput


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.quick:
        overhead.main(["--actions", "300", "--rounds", "1"])
        throughput.main(["--workers", "8", "--actions", "400"])
        rate_limited.main(["--cases", "20/1", "--windows", "5"])
        recovery.main(["--trials", "1"])
    else:
        overhead.main([])
        throughput.main([])
        rate_limited.main([])
        recovery.main([])
    print(f"\nall benchmarks: {time.monotonic() - started:.0f} s; JSON in bench/results/")


if __name__ == "__main__":
    main()
