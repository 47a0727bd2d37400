"""The application: the only package with state, IO and processes (database, Celery, Flask)."""
