"""`sync` commands of the CLI: list syncs, run one by name with a progress bar."""

from __future__ import annotations

import json
import sys
import threading

import click

from connector.config import Settings
from connector.runtime import Runtime

POLL_S = 0.25


@click.group("sync")
def sync_group() -> None:
    """CRM syncs (definitions are created with POST /v1/syncs)."""


@sync_group.command("list")
@click.option("--workspace", "workspace_id", help="limit to one workspace id")
def list_cmd(workspace_id: str | None) -> None:
    """Every sync with its last success."""
    from sqlalchemy import select

    from connector.store.sync_models import Sync

    rt = Runtime(Settings.from_env())
    with rt.db.session() as session:
        query = select(Sync)
        if workspace_id:
            query = query.where(Sync.workspace_id == workspace_id)
        for sync in session.scalars(query.order_by(Sync.name)):
            click.echo(f"{sync.id}  {sync.name}  {sync.source_kind}  enabled={sync.enabled}  "
                       f"last_success={sync.last_success_at}")


@sync_group.command("run")
@click.argument("name")
@click.option("--workspace", "workspace_id", help="the workspace, when names repeat across them")
@click.option("--queue", "use_queue", is_flag=True,
              help="enqueue for the workers and watch, instead of running in this process")
@click.option("--json", "as_json", is_flag=True, help="print the finished run as JSON")
def run_cmd(name: str, workspace_id: str | None, use_queue: bool, as_json: bool) -> None:
    """Run the sync NAME (or id) now, showing records read against the total when known."""
    from connector import jobs
    from connector.services.syncs import run_view, start_run
    from connector.store.sync_models import SyncRun
    from connector.store.syncs import find_sync
    from connector.sync.runner import SyncRunner

    rt = Runtime(Settings.from_env())
    with rt.db.session() as session:
        sync = find_sync(session, workspace_id, name)
    if sync is None:
        click.echo(f"no sync named {name!r}", err=True)
        sys.exit(2)
    run, started = start_run(rt, sync, "cli", enqueue=use_queue)
    if not started:
        click.echo(f"run {run.id} of {sync.name} is already {run.status}; watching it", err=True)
    elif not use_queue:
        worker = threading.Thread(target=SyncRunner(rt, f"cli-{jobs.worker_id()}").execute,
                                  args=(run.id,), daemon=True)
        worker.start()

    def current() -> dict[str, object]:
        with rt.db.session() as session:
            row = session.get(SyncRun, run.id)
        assert row is not None
        return run_view(row)

    view = current()
    stop = threading.Event()
    with click.progressbar(length=1, label=f"sync {sync.name}", show_pos=True,
                           file=sys.stderr) as bar:
        while not stop.wait(POLL_S):
            view = current()
            progress = view["progress"]
            assert isinstance(progress, dict)
            bar.length = max(int(progress["total"] or 0), int(progress["read"]), 1)
            bar.update(int(progress["read"]) - bar.pos)
            if view["status"] not in ("queued", "running"):
                stop.set()
    report = view["report"]
    if as_json:
        click.echo(json.dumps(view, indent=2))
    else:
        click.echo(f"{view['status']}: {json.dumps(report)}")
    sys.exit(0 if view["status"] == "succeeded" else 1)
