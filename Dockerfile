# syntax=docker/dockerfile:1.7
# ragfleet images. Targets:
#   docker build --target api    -t ghcr.io/ragfleet/ragfleet-api:<tag> .
#   docker build --target worker -t ghcr.io/ragfleet/ragfleet-worker:<tag> .
# Both run against a remote embedding endpoint and carry no torch. `--build-arg EXTRAS=local`
# adds the bundled embedding model with the CPU-only torch build (a much larger image).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# --- builder: wheels for ragfleet and its whole dependency closure --------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md requirements.lock requirements-local.lock ./
COPY src ./src
# Exactly the locked dependencies (hashes checked, `make lock`), then ragfleet itself. With EXTRAS
# set, torch comes pinned from the CPU index first; PyPI's default torch wheel pulls CUDA.
RUN if [ -n "${EXTRAS}" ]; then \
        pip wheel --no-cache-dir --wheel-dir /wheels --no-deps \
            --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
        && pip wheel --no-cache-dir --wheel-dir /wheels --no-deps --require-hashes \
            -r requirements-local.lock; \
    else \
        pip wheel --no-cache-dir --wheel-dir /wheels --no-deps --require-hashes -r requirements.lock; \
    fi \
    && pip wheel --no-cache-dir --wheel-dir /wheels --no-deps .

# --- runtime: the slim base plus the installed wheels, nothing else -------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAGFLEET_SERVER__HOST=0.0.0.0 \
    RAGFLEET_SERVER__PORT=8000 \
    RAGFLEET_LOG__JSON_FORMAT=true \
    RAGFLEET_DATA_DIR=/tmp/ragfleet
RUN groupadd --system --gid 10001 ragfleet \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin ragfleet
# The wheels are bind-mounted from the builder, so they never land in a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl
WORKDIR /tmp
USER 10001:10001

# --- worker: Celery worker; metrics on 9100 --------------------------------------------------
FROM runtime AS worker
EXPOSE 9100
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 \
    CMD ["ragfleet", "worker-probe"]
CMD ["ragfleet", "worker"]

# --- api (default target): HTTP on 8000 ------------------------------------------------------
FROM runtime AS api
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["ragfleet", "serve"]
