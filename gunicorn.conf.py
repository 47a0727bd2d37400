"""gunicorn's settings file: `gunicorn wsgi:app` reads it from the working directory first."""

from ci.runtime import protect_process

# The master holds the same environment, secrets included, as the workers it forks.
protect_process()
