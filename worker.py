"""RQ worker entry point: `python worker.py [--processes N] [--burst]` (see connector/workers.py)."""

from connector.cli import worker_main

if __name__ == "__main__":
    worker_main()
