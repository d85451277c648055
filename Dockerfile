# The Dongguan Citizen Card server image (docs/operations.md, "Deployment files").
# Build: docker build -t citizencard .   Run one migration per release, then the servers:
#   docker run --rm --env-file citizencard.env citizencard db upgrade
#   docker run -d --env-file citizencard.env -p 127.0.0.1:8000:8000 citizencard
# The same image runs the workers: `notify run --loop`, `audit seal --loop`, `offline publish --every 60`.
# Settings (DATABASE_URL, REDIS_URL, CARD_*) come from the environment; never bake secrets in.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY console ./console
COPY miniprogram_api ./miniprogram_api
COPY qr ./qr
COPY scenes ./scenes
COPY standins ./standins
COPY terminal ./terminal
RUN python -m venv /opt/citizencard/venv \
    && /opt/citizencard/venv/bin/pip install --no-compile . \
    && /opt/citizencard/venv/bin/python -m compileall -q /opt/citizencard/venv/lib

FROM python:3.11-slim-bookworm
ENV PATH=/opt/citizencard/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CARD_ENV=production \
    CARD_GUNICORN_BIND=0.0.0.0:8000 \
    CARD_INSTANCE_PATH=/var/lib/citizencard
RUN groupadd --system --gid 10001 citizencard \
    && useradd --system --uid 10001 --gid citizencard --home-dir /var/lib/citizencard --create-home citizencard
COPY --from=build /opt/citizencard/venv /opt/citizencard/venv
USER 10001:10001
WORKDIR /var/lib/citizencard
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["citizencard"]
CMD ["serve", "--no-migrate"]
