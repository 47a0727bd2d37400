"""gunicorn's settings file: `gunicorn wsgi:app` reads it from the working directory first."""

from ci.runtime import protect_process

# The master holds the same environment, secrets included, as the workers it forks.
protect_process()

# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
# connections over them. On one shared socket the first worker awake accepts a burst whole:
# a client's keep-alive connections, opened at once, then all land on one worker while the
# other idles. The cost: connections still in a dying worker's queue are reset.
reuse_port = True
