# One image for web, worker, beat, events and flower (they differ only in command).
FROM python:3.11-slim
WORKDIR /app
COPY setup.cfg pyproject.toml README.md Procfile ./
COPY dispatcher ./dispatcher
COPY web ./web
COPY workers ./workers
RUN pip install --no-cache-dir . && useradd --system dispatcher
USER dispatcher
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "web:create_app()"]
