"""`make test`: the suite on SQLite and, when PostgreSQL answers, on PostgreSQL, in two parallel
pytest processes with their own Redis databases (the integration tests mostly wait on sockets
and subprocesses, so two sessions share the two cores well).

The SQLite session runs everything; the PostgreSQL session runs the integration tests (unit
tests touch no database). Exit status is non-zero if either session fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from tests.support.services import postgres_url


def main() -> int:
    base = [sys.executable, "-m", "pytest", *sys.argv[1:]]
    sqlite_env = {**os.environ, "WA_TEST_DATABASES": "sqlite"}
    sqlite_env.setdefault("WA_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
    pg = None
    log = tempfile.TemporaryFile(mode="w+")
    if postgres_url():
        pg_env = {**os.environ, "WA_TEST_DATABASES": "postgresql",
                  "WA_TEST_REDIS_URL": os.environ.get("WA_TEST_PG_REDIS_URL",
                                                      "redis://127.0.0.1:6379/11")}
        pg = subprocess.Popen([*base, "tests/integration"], env=pg_env, stdout=log,
                              stderr=subprocess.STDOUT, text=True)
    else:
        print("PostgreSQL does not answer on 127.0.0.1:5432 and TEST_DATABASE_URL is unset: "
              "running on SQLite only.", flush=True)
    sqlite_code = subprocess.call(base, env=sqlite_env)
    pg_code = pg.wait() if pg is not None else 0
    print(f"\nSQLite session exit {sqlite_code}; PostgreSQL session exit "
          f"{pg_code if pg is not None else 'skipped'}", flush=True)
    if pg is not None:
        # Printed last, so the run ends with pytest's own summary line.
        log.seek(0)
        print("===== PostgreSQL session (tests/integration) =====", flush=True)
        sys.stdout.write(log.read())
        sys.stdout.flush()
    return 1 if sqlite_code or pg_code else 0


if __name__ == "__main__":
    sys.exit(main())
