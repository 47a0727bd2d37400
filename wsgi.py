"""The WSGI entry point for production: `gunicorn wsgi:app` with settings from AXON_* variables."""

from ci.api.access import require_api_token
from ci.app import create_app
from ci.config import Settings
from ci.runtime import protect_process

settings = Settings.from_env()
# gunicorn binds wherever its command line says, so this server always counts as reachable.
require_api_token(settings, "gunicorn wsgi:app")
protect_process()
app = create_app(settings)
