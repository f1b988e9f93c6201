# One image for both roles, chosen at build time:
#   REQUIREMENTS=base  web processes and default-queue workers (no torch)
#   REQUIREMENTS=ml    workers that also take the "ml" queue (torch, transformers, librosa)

# Browser libraries from the npm registry (package-lock.json), served from node_modules
# by the app (settings STATICFILES_DIRS); only the result is copied into the image.
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
# Without the dev dependencies: axe-core serves only the browser tests.
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

FROM python:3.11-slim

ARG REQUIREMENTS=base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=messsite.settings \
    MESS_DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles
# Sync workers, reached only through the buffering proxy (compose's "proxy" service), so a
# body arrives at loopback speed; decoding and checking an upload of several hundred MB
# still outlasts gunicorn's default 30 s worker timeout.
ENV GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000 --timeout 300 --access-logfile -"

# libsndfile decodes and validates audio (through soundfile) in web and worker alike;
# ml workers also render the demo corpus with FluidSynth.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsndfile1 \
    && if [ "$REQUIREMENTS" = "ml" ]; then apt-get install -y --no-install-recommends libfluidsynth3; fi \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Requirements first, so code changes do not reinstall them.
COPY requirements/ requirements/
# The ml build takes torch's CPU wheel from PyTorch's index: the default Linux wheel on
# PyPI pulls several GB of CUDA libraries that a CPU worker never uses.
RUN if [ "$REQUIREMENTS" = "ml" ]; then extra_index="--extra-index-url https://download.pytorch.org/whl/cpu"; fi \
    && pip install $extra_index -r "requirements/${REQUIREMENTS}.txt" \
    && if [ "$REQUIREMENTS" = "ml" ]; then pip install --no-deps -r requirements/musicnn.txt; fi

COPY . .
COPY --from=assets /assets/node_modules node_modules/

# Static files are collected into the image and served by whitenoise. The key only lets
# settings load here; it is not kept in the image's environment.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 mess \
    && mkdir -p /data/media \
    && chown -R mess /data
USER mess

EXPOSE 8000
CMD ["gunicorn", "messsite.wsgi"]
