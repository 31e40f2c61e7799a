"""Command line: `python -m connector.cli ...` — workspaces, keys, connections, processes.

Every command that creates something takes `--json` so scripts can read its answer.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from connector.config import Settings
from connector.errors import ApiError
from connector.runtime import Runtime


def _runtime() -> Runtime:
    return Runtime(Settings.from_env())


def _emit(data: dict[str, Any], as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)


@click.group()
def cli() -> None:
    """wa-connector administration."""


@cli.command("db-upgrade")
def db_upgrade() -> None:
    """Apply database migrations (Alembic) up to the newest."""
    from connector.store.migrate import upgrade

    upgrade(Settings.from_env().resolved_database_url)
    click.echo("database is up to date")


@cli.command("lint-defs")
def lint_defs() -> None:
    """Check every action and trigger definition; exits 1 listing each error."""
    from pathlib import Path

    from connector.catalog import CatalogError, load
    from connector.providers.registry import known_operations

    try:
        catalog = load(Path(Settings.from_env().definitions_path),
                       known_operations=known_operations())
    except CatalogError as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    click.echo(f"{len(catalog.actions)} actions, {len(catalog.triggers)} triggers OK")


@cli.group()
def workspace() -> None:
    """Workspaces."""


@workspace.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def workspace_create(name: str, as_json: bool) -> None:
    """Create a workspace and its first API key (shown once)."""
    from connector.store.workspaces import create_api_key, create_workspace

    rt = _runtime()
    with rt.db.session() as session:
        wsp = create_workspace(session, name)
        key, plaintext = create_api_key(session, wsp.id)
    _emit({"workspace": {"id": wsp.id, "name": wsp.name}, "api_key": plaintext,
           "api_key_id": key.id}, as_json,
          f"workspace {wsp.id} ({name})\nAPI key (shown once): {plaintext}")


@cli.group()
def key() -> None:
    """Workspace API keys."""


@key.command("create")
@click.argument("workspace_ref")
@click.option("--name", default="default")
@click.option("--json", "as_json", is_flag=True)
def key_create(workspace_ref: str, name: str, as_json: bool) -> None:
    """Create another API key for WORKSPACE_REF (id or name)."""
    from connector.store.workspaces import create_api_key, find_workspace

    rt = _runtime()
    with rt.db.session() as session:
        wsp = find_workspace(session, workspace_ref)
        if wsp is None:
            raise click.ClickException(f"no workspace {workspace_ref!r}")
        row, plaintext = create_api_key(session, wsp.id, name)
    _emit({"workspace_id": wsp.id, "api_key": plaintext, "api_key_id": row.id}, as_json,
          f"API key (shown once): {plaintext}")


@key.command("revoke")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True)
def key_revoke(key_id: str, as_json: bool) -> None:
    """Revoke the API key KEY_ID (as `key create` printed it); API processes drop it within
    WA_API_KEY_CACHE_S seconds (default 10)."""
    from connector.store.workspaces import revoke_api_key

    rt = _runtime()
    with rt.db.session() as session:
        row = revoke_api_key(session, key_id)
        if row is None:
            raise click.ClickException(f"no API key {key_id!r}")
        revoked_at = row.revoked_at
    _emit({"api_key_id": key_id, "revoked_at": revoked_at.isoformat() if revoked_at else None},
          as_json, f"API key {key_id} revoked")


@cli.group()
def connection() -> None:
    """Tenant connections."""


@connection.command("create")
@click.option("--workspace", "workspace_ref", required=True)
@click.option("--provider", default="corbital", show_default=True)
@click.option("--base-url", required=True)
@click.option("--tenant")
@click.option("--token", prompt=True, hide_input=True)
@click.option("--name")
@click.option("--rate-limit", type=int)
@click.option("--rate-window-s", type=int)
@click.option("--json", "as_json", is_flag=True)
def connection_create(workspace_ref: str, provider: str, base_url: str, tenant: str | None,
                      token: str, name: str | None, rate_limit: int | None,
                      rate_window_s: int | None, as_json: bool) -> None:
    """Create a connection (a live test call runs first)."""
    from connector.services.connections import create_connection
    from connector.store.connections import public_view
    from connector.store.workspaces import find_workspace

    rt = _runtime()
    with rt.db.session() as session:
        wsp = find_workspace(session, workspace_ref)
    if wsp is None:
        raise click.ClickException(f"no workspace {workspace_ref!r}")
    body: dict[str, Any] = {"provider": provider, "base_url": base_url, "token": token}
    for field, value in (("tenant", tenant), ("name", name), ("rate_limit", rate_limit),
                         ("rate_window_s", rate_window_s)):
        if value is not None:
            body[field] = value
    try:
        conn = create_connection(rt, wsp.id, body)
    except ApiError as error:
        raise click.ClickException(json.dumps(error.to_problem())) from None
    view = public_view(conn)
    _emit(view, as_json, f"connection {conn.id} ({conn.provider}, {len(view['abilities'])} "
                         "abilities)")


def _register_sync_commands() -> None:
    from connector.sync_cli import sync_group

    cli.add_command(sync_group)


_register_sync_commands()


@cli.command("worker")
@click.option("--processes", type=int, help="worker processes (default WA_WORKER_PROCESSES)")
@click.option("--burst", is_flag=True, help="one process; exit when the queues are empty")
@click.option("--exit-with-parent", is_flag=True, help="stop when the parent process is gone")
def worker_cmd(processes: int | None, burst: bool, exit_with_parent: bool) -> None:
    """Run RQ workers (non-forking, one per process)."""
    from connector.workers import run_pool, run_worker

    settings = Settings.from_env()
    if burst:
        run_worker(settings, burst=True, with_scheduler=False)
    else:
        run_pool(settings, processes or settings.worker_processes,
                 exit_with_parent=exit_with_parent)


@cli.command("scheduler")
def scheduler_cmd() -> None:
    """Run the scheduler (enqueues sweeps and scheduled work; safe to run several)."""
    from connector.scheduler import run_scheduler

    run_scheduler(_runtime())


@cli.command("sweep")
def sweep_cmd() -> None:
    """Run one outbox / dead-worker sweep now."""
    from connector import jobs

    jobs.bind_runtime(_runtime())
    click.echo(json.dumps(jobs.sweep_outbox()))


@cli.command("dev")
@click.option("--api-port", type=int, default=8080, show_default=True, envvar="WA_API_PORT")
@click.option("--sandbox-port", type=int, default=8090, show_default=True,
              envvar="WA_SANDBOX_PORT")
def dev_cmd(api_port: int, sandbox_port: int) -> None:
    """Start everything on this machine (make run)."""
    from connector.devserver import run_dev

    run_dev(api_port=api_port, sandbox_port=sandbox_port)


def worker_main() -> None:
    cli.main(args=["worker", *sys.argv[1:]], prog_name="worker.py")


if __name__ == "__main__":
    cli()
