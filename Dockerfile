# One image for every process of the production profile (deploy/k8s/*.yaml chooses the
# command): Rasa replicas, action servers, the web app and the migration job.
# Not built on the development machines (no Docker there): see docs/deploy.md.

# The chat page and the console's 统计 page, built from the locked npm packages
# (bot/web/chat/static/ and bot/web/console/static/build/ are not in git).
FROM node:20-bookworm-slim AS frontend
WORKDIR /app/bot/web/frontend
COPY bot/web/frontend/package.json bot/web/frontend/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY bot/web/frontend/src src
RUN npm run build

FROM python:3.10-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements/lock.txt requirements/lock.txt
RUN python -m venv /venv \
 && /venv/bin/pip install "uv==0.13.9" \
 && /venv/bin/uv pip sync --python /venv/bin/python requirements/lock.txt
COPY . .
# The model is trained in the image so that every replica serves the same one.
RUN PATH=/venv/bin:$PATH rasa train --data data/nlu data/rules --fixed-model-name bot \
      --out models --quiet

FROM python:3.10-slim-bookworm
ENV PATH=/venv/bin:$PATH PYTHONPATH=/app PYTHONUNBUFFERED=1 \
    RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
RUN useradd --uid 10001 --create-home jiebang
WORKDIR /app
COPY --from=build /venv /venv
COPY --from=build --chown=10001:10001 /app /app
COPY --from=frontend --chown=10001:10001 /app/bot/web/chat/static /app/bot/web/chat/static
COPY --from=frontend --chown=10001:10001 /app/bot/web/console/static/build /app/bot/web/console/static/build
RUN rm -rf /app/var /app/tests /app/.venv && mkdir -p /app/var && chown 10001 /app/var
USER 10001
EXPOSE 5005 5055 8000
CMD ["python", "-m", "bot.ops.rasa_server", "--model", "models/bot.tar.gz", \
     "--port", "5005", "-i", "0.0.0.0", "--endpoints", "deploy/endpoints.prod.yml", \
     "--credentials", "deploy/credentials.prod.yml", \
     "--logging-config-file", "deploy/logging.prod.yml"]
