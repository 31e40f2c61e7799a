"""Accepting action calls (`services/accept.py`): calls that arrive together share one
transaction and one Redis round trip, yet each is refused or accepted on its own, and every
accepted run is committed and enqueued before its caller is answered."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import event, select

from connector.services.accept import Acceptor
from connector.store.group_commit import writer_for
from connector.store.models import Run
from tests.conftest import make_connection, make_tenant
from tests.integration.test_actions import ALL_ABILITIES, call, finished_run
from tests.support.tenant_api import make_contact, request_count
from tests.support.triggers import wait_until

WAIT_S = 20.0


def test_concurrent_calls_share_a_transaction_and_each_gets_its_own_answer(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    phone = make_contact(tenant)["phone"]
    lacking = make_connection(client, workspace, make_tenant(sandbox),
                              abilities=[a for a in ALL_ABILITIES if a != "messages.send"])
    calls = [(connection["id"], {"phone": phone, "text": f"hello {n}"}) for n in range(4)]
    calls += [("con_missing", {"phone": phone, "text": "nowhere"}),
              (lacking["id"], {"phone": phone, "text": "not allowed"}),
              (connection["id"], {"phone": phone})]  # no text: invalid
    answers: dict[int, Any] = {}
    commits: list[float] = []
    acceptor = writer_for(rt_of(client), Acceptor)
    before = request_count(tenant)
    threads = [threading.Thread(target=lambda n=n, c=c: answers.__setitem__(
        n, call(client, workspace, c[0], "send_text", c[1]))) for n, c in enumerate(calls)]

    def count_commit(_: Any) -> None:
        commits.append(time.monotonic())

    event.listen(acceptor.rt.db.engine, "commit", count_commit)
    try:
        with acceptor._group._writer:  # the calls pile up behind a write in progress
            for thread in threads:
                thread.start()
            wait_until(lambda: acceptor._group.waiting == len(calls), WAIT_S,
                       "the calls waiting behind the writer")
        for thread in threads:
            thread.join(WAIT_S)
    finally:
        event.remove(acceptor.rt.db.engine, "commit", count_commit)
    assert len(commits) == 1, "seven calls, one transaction"
    codes = [answers[n].status_code for n in range(len(calls))]
    assert codes == [202] * 4 + [404, 403, 422]
    assert answers[5].get_json()["missing_abilities"] == ["messages.send"]
    assert answers[6].get_json()["errors"][0]["pointer"] == "/text"
    for n in (4, 5, 6):
        assert answers[n].headers["Content-Type"] == "application/problem+json"
    accepted = [answers[n].get_json()["id"] for n in range(4)]
    with rt.db.session() as session:
        stored = set(session.scalars(select(Run.id)))
    assert stored == set(accepted), "only the accepted runs are stored"
    queued = {j.decode() for j in rt.redis.lrange("rq:queue:actions", 0, -1)}
    assert queued == set(accepted), "each accepted run has its job (job id = run id)"
    assert request_count(tenant) == before  # nothing reached the tenant before a worker ran
    for n in range(4):
        run = finished_run(client, workspace, rt, answers[n])
        assert run["status"] == "succeeded", run["error"]


def rt_of(client: Any) -> Any:
    """The runtime the app under test serves requests with (the acceptor is per runtime)."""
    return client.application.extensions["wa_runtime"]


def test_a_row_that_breaks_the_batch_fails_alone(
        client: Any, rt: Any, workspace: dict[str, Any], connection: dict[str, Any]) -> None:
    from sqlalchemy.exc import IntegrityError

    from connector.services.accept import PendingRun
    from connector.store import runs

    app_rt = rt_of(client)
    acceptor = writer_for(app_rt, Acceptor)
    definition = app_rt.catalog.actions["list_groups"]
    first = runs.new_run(workspace_id=workspace["id"], connection_id=connection["id"],
                         action_key="list_groups", data={}, queue="actions")
    twin = runs.new_run(workspace_id=workspace["id"], connection_id=connection["id"],
                        action_key="list_groups", data={}, queue="actions")
    twin.id = first.id  # the same primary key: the batch's INSERT fails as a whole
    outcomes: dict[str, Any] = {}

    def submit(name: str, run: Run) -> None:
        try:
            outcomes[name] = acceptor.accept(PendingRun(run, definition, [], False))
        except IntegrityError as error:
            outcomes[name] = error

    threads = [threading.Thread(target=submit, args=pair)
               for pair in (("first", first), ("twin", twin))]
    with acceptor._group._writer:
        for expected, thread in enumerate(threads, start=1):
            thread.start()  # in order: the first run is the batch's first row
            wait_until(lambda n=expected: acceptor._group.waiting == n,  # type: ignore[misc]
                       WAIT_S, "the runs waiting in order")
    for thread in threads:
        thread.join(WAIT_S)
    assert outcomes["first"].id == first.id
    assert isinstance(outcomes["twin"], IntegrityError)
    with rt.db.session() as session:
        assert list(session.scalars(select(Run.id))) == [first.id]
    assert [j.decode() for j in rt.redis.lrange("rq:queue:actions", 0, -1)] == [first.id]
