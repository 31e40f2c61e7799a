"""Baselines measured in the same command as the real thing.

- `app`: a bare Flask app whose one handler answers 202 with a small JSON body, served by the
  same gunicorn command as `wsgi:app` (`gunicorn bench.baselines:app`).
- `python -m bench.baselines worker <redis_url> <queue>`: one RQ `SimpleWorker` on `queue`,
  running `noop` jobs, in its own process (what our worker is compared with).
"""

from __future__ import annotations

import sys

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.post("/v1/connections/<connection_id>/actions/<key>")
def accept(connection_id: str, key: str) -> Response:
    response = jsonify({"id": "run_baseline", "status": "queued"})
    response.status_code = 202
    return response


@app.get("/v1/catalog/actions")
def ready() -> Response:
    return jsonify({"items": []})


def noop() -> None:
    """The job of the worker baseline: does nothing."""


def main() -> None:
    import redis
    from rq import SimpleWorker

    _, _, redis_url, queue = sys.argv
    connection = redis.Redis.from_url(redis_url)
    SimpleWorker([queue], connection=connection).work(with_scheduler=False,
                                                      logging_level="WARNING")


if __name__ == "__main__":
    main()
