# syntax=docker/dockerfile:1
# scrm-assistant: one image for the web service (`scrm serve`) and the scheduler (`scrm scheduler`).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY integrations ./integrations
COPY storage ./storage
# Wheels for the app and every dependency; the runtime stage needs no compiler.
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SCRM_DATABASE_URL=sqlite:////data/scrm.db
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin scrm \
 && mkdir -p /data && chown scrm:scrm /data
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels scrm-assistant && rm -rf /wheels
USER scrm
WORKDIR /home/scrm
VOLUME ["/data"]
EXPOSE 8000
# /healthz answers while the process lives; /readyz (database + migrations) is for the orchestrator.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["scrm", "serve", "--host", "0.0.0.0", "--port", "8000"]
