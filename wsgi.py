"""The WSGI entry point for production: `gunicorn wsgi:app` with settings from AXON_* variables."""

from ci.app import create_app

app = create_app()
