# syntax=docker/dockerfile:1
# One image for every Axon process: the API (gunicorn wsgi:app), `axon worker`, `axon scheduler`,
# `axon agent` and `axon db upgrade`. Settings come from AXON_* variables at run time.
# The API binds 0.0.0.0 and refuses to start without AXON_API_TOKEN, e.g.
#   docker run -e AXON_API_TOKEN=$(openssl rand -hex 32) -e AXON_SECRET_KEY=... -e AXON_DATABASE_URL=...
# The other processes serve no HTTP and need no token.

FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
# git: the local runner checks out the event's commit for its jobs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
# The uid matches the chart's runAsUser; AXON_HOME is its only writable directory.
RUN groupadd --system --gid 10001 axon \
    && useradd --system --no-log-init --uid 10001 --gid axon --home-dir /var/lib/axon axon \
    && install -d -o axon -g axon /var/lib/axon
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AXON_HOME=/var/lib/axon
WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-deps /wheels/*.whl
# gunicorn imports wsgi:app and reads gunicorn.conf.py from the working directory.
COPY wsgi.py gunicorn.conf.py ./
USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "wsgi:app", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", \
     "--workers", "2", "--threads", "4", "--access-logfile", "-", "--no-control-socket"]
