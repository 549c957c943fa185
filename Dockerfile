# One image, every role: the web app (default command), the Faust worker
# (`faust -A streams.app -q worker -l info`), the optional separate outbox relay
# (`flask --app web relay`); migrations run `flask --app web db upgrade`.
# Commands are the Procfile's, so Heroku-style platforms, compose and the chart agree.

# The base of both stages. Pin it by digest for reproducible builds:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   (the "Digest:" line)
#   docker build --build-arg PYTHON_BASE=python:3.11-slim-bookworm@sha256:<digest> .
# The deploy workflow always builds by digest: the PYTHON_BASE_DIGEST variable's, or the tag's
# digest of the day, which it prints so it can be pinned (DEPLOY.md). No digest is written here
# because none could be verified where this file was written (no registry of images reachable).
ARG PYTHON_BASE=python:3.11-slim-bookworm

FROM ${PYTHON_BASE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Compilers live only in this stage, for any dependency that has no wheel for this platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from the hashed lock alone (scripts/lock.sh; CI installs the same versions
# from requirements/dev.lock), so a source change reuses this layer and every file is checked.
COPY requirements/runtime.lock ./
RUN pip install --require-hashes --no-deps -r runtime.lock

FROM ${PYTHON_BASE} AS runtime
# The app runs from its source tree in /app (not site-packages) because web/ finds its
# templates at ../frontend, beside the package.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    WORKER_WEB_HOST=0.0.0.0 \
    WORKER_WEB_PORT=6066 \
    WORKER_DATA_DIR=/var/lib/todo-platform/worker \
    MAIL_DIR=/tmp/todo-platform-mail
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/todo-platform/worker \
    && chown -R app:app /var/lib/todo-platform
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY shared ./shared
COPY web ./web
COPY streams ./streams
COPY frontend ./frontend
COPY pyproject.toml gunicorn.conf.py ./
USER 10001:10001
EXPOSE 8000 6066
VOLUME ["/var/lib/todo-platform/worker"]
# The web role answers /healthz on $PORT; other roles set HEALTHCHECK_URL or their own check (compose does).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as r; r.urlopen(os.environ.get('HEALTHCHECK_URL') or 'http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"
CMD ["sh", "-c", "exec gunicorn --bind 0.0.0.0:${PORT:-8000} --workers 2 --threads 4 'web:create_app()'"]
