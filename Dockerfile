# One image for web, worker, beat, events, flower and the one-shot migrate and asterisk-config
# services (they differ only in command). PostgreSQL is external (DATABASE_URL) by default.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ASTERISK_CONF_TEMPLATES=/app/asterisk-conf/templates
COPY setup.cfg pyproject.toml README.md Procfile ./
COPY dispatcher ./dispatcher
COPY web ./web
COPY workers ./workers
# Templates for `dispatcher asterisk render` / `remote-config` (not Python package data).
COPY asterisk-conf/templates ./asterisk-conf/templates
# /srv/asterisk-config is where asterisk-config renders; the named volume mounted there
# inherits this owner on first use, so the unprivileged user can write it.
RUN pip install --no-cache-dir . \
 && useradd --system dispatcher \
 && mkdir -p /srv/asterisk-config \
 && chown dispatcher /srv/asterisk-config
USER dispatcher
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "web:create_app()"]
