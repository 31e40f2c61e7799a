"""Prometheus metrics. Run and queue gauges are read from the database and Redis at scrape
time, so they are true for every process (workers and API alike), not just the one scraped."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue
from sqlalchemy import func, select

from connector.queueing import QUEUES_BY_PRIORITY
from connector.runtime import Runtime
from connector.store.models import Run


class StateCollector(Collector):
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs = GaugeMetricFamily("wa_runs", "Runs by status", labels=["status"])
        with self.rt.db.session() as session:
            for status, count in session.execute(
                    select(Run.status, func.count()).group_by(Run.status)):
                runs.add_metric([status], count)
        yield runs
        depth = GaugeMetricFamily("wa_queue_depth", "Jobs waiting per RQ queue", labels=["queue"])
        for name in QUEUES_BY_PRIORITY:
            depth.add_metric([name], Queue(name, connection=self.rt.redis).count)
        yield depth


def init_app(app: Flask, rt: Runtime) -> None:
    registry = CollectorRegistry()
    registry.register(StateCollector(rt))
    responses = Counter("wa_http_responses", "API responses (this process)",
                        ["method", "endpoint", "status"], registry=registry)

    @app.after_request
    def count(response: Response) -> Response:
        responses.labels(request.method, request.endpoint or "unknown",
                         str(response.status_code)).inc()
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
