# Slim runtime image: locked dependencies only, non-root, migrations applied on start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir "uv>=0.5,<1"
# a CJK font (~5 MB) for the /stats chart's Chinese labels (digests/readership/chart.py)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY bot ./bot
COPY digests ./digests
COPY examples ./examples
RUN uv sync --frozen --no-dev

RUN useradd --create-home --uid 10001 digestbot && mkdir -p /app/data && chown digestbot /app/data
USER digestbot
ENV PATH=/app/.venv/bin:$PATH
ENV WEB_HOST=0.0.0.0
EXPOSE 8080
VOLUME ["/app/data"]

CMD ["sh", "-c", "digestbot db upgrade && exec digestbot run"]
