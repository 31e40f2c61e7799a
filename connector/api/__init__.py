"""HTTP blueprints, one per resource; `register_blueprints` is called by `create_app`."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from connector.api import actions, catalog, connections, health, me, runs

    for module in (health, me, connections, catalog, actions, runs):
        app.register_blueprint(module.bp)
