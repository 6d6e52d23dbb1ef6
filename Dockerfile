# threadline: `docker run --env-file .env -v threadline:/data threadline`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    STORAGE__PATH=/data/threadline.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install . \
    && useradd --create-home --uid 10001 threadline \
    && mkdir /data && chown threadline /data

USER threadline
VOLUME ["/data"]
CMD ["threadline", "run"]
