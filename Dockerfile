# Vigie: the web application and API served by gunicorn, as one image per release.
# Build: make docker-build (or docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) .)
# Runtime data lives in three volumes: model_store/, logs/ and instance/ (uid 10001 writes them);
# a cluster adds batches/, one volume shared by its instances (deploy/compose.yaml).
# Pinned by digest (the multi-arch index of the official image): a re-pushed tag changes nothing.
# Where no registry is reachable, .ci/docker-build.sh builds FROM a stand-in named by the tag.
FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid above the system range, so that host folders can be given to it (chown 10001).
RUN groupadd --gid 10001 vigie \
    && useradd --uid 10001 --gid vigie --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin vigie

WORKDIR /app

# Dependencies in their own layer: a code change does not reinstall them. Every package,
# transitive ones included, is pinned with its hashes (`make lock`): a changed file is refused.
COPY requirements.txt ./
RUN pip install --no-compile --require-hashes -r requirements.txt

COPY . .

# The catalogues are compiled into the image (the app user cannot write the code). The app
# factory creates a secret key and an admin when it starts: point it at a throwaway folder so
# that neither is baked into the image (and no password is printed in the build log).
RUN VIGIE_INSTANCE_DIR=/tmp/build VIGIE_LOG_DIR=/tmp/build VIGIE_MODEL_STORE=/tmp/build/store \
       VIGIE_ADMIN_PASSWORD=discarded-with-the-build-folder flask --app webapp translations \
    && rm -rf /tmp/build \
    && mkdir -p model_store logs instance batches \
    && chown vigie:vigie model_store logs instance batches \
    && chmod 0755 .ci/docker-entrypoint.sh

ARG GIT_COMMIT=unknown
ENV VIGIE_GIT_COMMIT=${GIT_COMMIT} \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=2

USER vigie
VOLUME ["/app/model_store", "/app/logs", "/app/instance"]
EXPOSE 8000

# No curl in the slim image: the probe is a line of Python. The first start trains pump-1
# before gunicorn listens, hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)"

ENTRYPOINT ["/app/.ci/docker-entrypoint.sh"]
CMD ["gunicorn", "--config", "webapp/gunicorn_conf.py", "webapp:create_app()"]
