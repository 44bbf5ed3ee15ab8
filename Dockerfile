FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    APP_ENV=production HOST=0.0.0.0 PORT=3000

WORKDIR /app
RUN useradd --system --home /app tenant-iam
COPY pyproject.toml README.md alembic.ini ./
COPY api ./api
COPY db ./db
RUN pip install --no-cache-dir .

USER tenant-iam
EXPOSE 3000
# Migrations are a separate step: `docker compose run --rm api alembic upgrade head`.
CMD ["gunicorn", "-c", "python:api.gunicorn_config"]
