"""`python -m connector.sandbox`: run the sandbox standalone, optionally with a demo tenant."""

from __future__ import annotations

import argparse

from connector.heap import freeze_startup_heap
from connector.sandbox.seed import seed_tenant
from connector.sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connector.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--demo-tenant", help="create and seed this tenant at start")
    parser.add_argument("--demo-token", help="bearer token of the demo tenant")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if bool(args.demo_tenant) != bool(args.demo_token):
        parser.error("--demo-tenant and --demo-token go together")
    server = SandboxServer(args.host, args.port, quiet=not args.verbose)
    if args.demo_tenant:
        with server.store.lock:
            seed_tenant(server.store.create_tenant(args.demo_tenant, args.demo_token))
    freeze_startup_heap()
    print(f"sandbox listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
