# syntax=docker/dockerfile:1
# Two stages: wheels are built with the full toolchain, the runtime image gets only them.
# Dependencies come from requirements.lock, the pinned set CI tests (`make test` installs
# with it as a constraint), so the image runs what was tested.

FROM python:3.12-slim AS build
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY api ./api
COPY db ./db
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.lock \
 && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    APP_ENV=production HOST=0.0.0.0 PORT=3000
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin tenant-iam
WORKDIR /app
# Runtime dependencies only (no [dev] extra), from the wheels built above: no compiler here.
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels tenant-iam \
 && rm -rf /wheels
COPY alembic.ini ./
USER tenant-iam
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3000')}/health/live\", timeout=2)"]
# Migrations are a separate, one-shot step (the compose file's migrate service):
#   python -m db.migrate up    (MIGRATIONS_DATABASE_URL, else DATABASE_URL)
CMD ["gunicorn", "-c", "python:api.serving.gunicorn_config"]
