"""The per-connection governor keeps several workers under the tenant's limit: zero 429s."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import make_connection, make_tenant
from tests.support.tenant_api import make_contact
from tests.support.worker import start_workers, stop_workers, wait_for_runs, wait_for_workers


@pytest.mark.parametrize(("count", "limit", "window_s"), [
    pytest.param(300, 20, 1, id="300-at-20-per-second"),
    pytest.param(30, 60, 60, id="30-at-60-per-minute"),
])
def test_burst_of_sends_stays_under_the_limit(count: int, limit: int, window_s: int,
                                              client: Any, rt: Any, sandbox: Any,
                                              workspace: dict[str, Any],
                                              database_url: str) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("the governor lives in Redis: the SQLite session covers it, and running it "
                    "in both parallel sessions at once only adds load to a timing-bound test")
    tenant = make_tenant(sandbox, rate_limit_max=limit, rate_limit_decay_s=window_s)
    phone = make_contact(tenant)["phone"]
    connection = make_connection(client, workspace, tenant, rate_limit=limit,
                                 rate_window_s=window_s)
    # All workers up before the burst: a fast first worker would otherwise take every run of
    # the 60/min case (all granted at once) before the others start.
    workers = start_workers(rt.settings, processes=3)
    try:
        wait_for_workers(rt, 3)
        for n in range(count):
            response = client.post(
                f"/v1/connections/{connection['id']}/actions/send_template",
                json={"phone": phone, "template_name": "welcome",
                      "body_params": [f"#{n}", "Acme"]},
                headers=workspace["headers"])
            assert response.status_code == 202
        runs = wait_for_runs(client, workspace, expected=count, wait_s=120)
    finally:
        stop_workers(workers)
    assert {r["status"] for r in runs} == {"succeeded"}
    stats = requests.get(f"{sandbox.url}/_admin/tenants/{tenant['slug']}/stats", timeout=5).json()
    assert stats["throttled"] == 0
    assert stats["max_in_any_window"] <= limit
    workers_used = {a["worker_id"] for r in runs for a in r["attempts"]}
    assert len(workers_used) >= 2
