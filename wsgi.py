"""WSGI entry point: `gunicorn wsgi:app`."""

from connector.app import create_app
from connector.heap import freeze_startup_heap

app = create_app()
freeze_startup_heap()
