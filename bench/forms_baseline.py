"""Baseline for the form-hook ingest benchmark: a bare Flask endpoint that only LPUSHes the
raw body to Redis and answers 200, served by the same gunicorn command as `wsgi:app`
(`gunicorn bench.forms_baseline:app`, Redis from BENCH_REDIS_URL)."""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, jsonify, request

app = Flask(__name__)
_redis = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"))


@app.post("/hooks/in/<token>")
def receive(token: str) -> Response:
    _redis.lpush(f"bench:forms:{token}", request.get_data())
    return jsonify({"ok": True})


@app.get("/v1/catalog/actions")
def ready() -> Response:
    return jsonify({"items": []})
