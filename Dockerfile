# threadline: `docker run --env-file .env -v threadline:/data -p 8080:8080 threadline`
#
# The install steps (a wheel built with --no-deps, then installed with its
# dependencies into a clean Python) are the ones tests/test_packaging.py runs in
# a fresh virtual environment; keep the two in step.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN python -m pip wheel --no-deps -w /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STORAGE__PATH=/data/threadline.db \
    OPS__PORT=8080
COPY --from=build /wheels /wheels
RUN python -m pip install /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 threadline \
    && mkdir /data && chown threadline /data

USER threadline
WORKDIR /data
# The SQLite database (WAL files and image store beside it) outlives the container.
VOLUME ["/data"]
# GET /healthz and GET /metrics (bot/health.py).
EXPOSE 8080
# The slim image has no curl: Python's urllib fails (exit 1) on a refused
# connection or a 503 from /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OPS__PORT', '8080'), timeout=3)"
CMD ["threadline", "run"]
