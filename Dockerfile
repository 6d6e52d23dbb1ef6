# threadline in a container. Build and run (docs/operations.md#docker):
#
#   docker build -t threadline .
#   docker run -d --name threadline --env-file .env -v threadline-data:/data -p 8080:8080 threadline
#
# or `docker compose -f deploy/compose.yaml up -d`, which reads .env the same way.
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

USER 10001
WORKDIR /data
# The SQLite database (WAL files and image store beside it) outlives the container.
VOLUME ["/data"]
# 8080: GET /healthz and GET /metrics (OPS__PORT, bot/health.py).
# 3000: Slack's HTTP mode, POST /slack/events (SLACK__HTTP_PORT; Socket Mode needs no port).
EXPOSE 8080 3000
# bot/probe.py: asks /healthz; with OPS__PORT=off it checks the database and the
# upstream from outside the process instead (platform connections then go unchecked).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "bot.probe"]
CMD ["threadline", "run"]
