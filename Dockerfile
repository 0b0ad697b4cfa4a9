FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /srv/hen
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install . && useradd --system --uid 10001 hen
USER hen

EXPOSE 8000
# The web service migrates first; the dispatcher waits for a current schema.
CMD ["sh", "-c", "hen db upgrade && hen serve --host 0.0.0.0 --port 8000"]
