"""HTTP blueprints, one per resource; `register_blueprints` is called by `create_app`."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from connector.api import (
        actions,
        catalog,
        connections,
        form_hooks,
        health,
        hooks,
        me,
        platform_hooks,
        push_signing,
        runs,
        syncs,
        triggers,
        workflows,
    )

    for module in (health, me, connections, catalog, actions, runs,
                   hooks, triggers, platform_hooks, form_hooks, workflows, syncs, push_signing):
        app.register_blueprint(module.bp)
