"""RQ worker entry point: `python worker.py [--processes N] [--burst]`.

See connector/workers.py for the worker model."""

from connector.cli import worker_main

if __name__ == "__main__":
    worker_main()
