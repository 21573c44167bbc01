# syntax=docker/dockerfile:1
# griddispatch images, built by docker-compose.yml:
#   target app    the service (python slim, the project pip-installed, the demo city, the pages)
#   target proxy  nginx with the pages' static files; its configuration is mounted from
#                 deploy/nginx/griddispatch.conf
# The npm registry is used only here, at build time; nothing is fetched at run time.

# ---- the pages' npm dependencies (Leaflet, idb, icons) copied into web/static/vendor
FROM node:22-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN node scripts/vendor.mjs && rm -rf node_modules

# ---- the service
FROM python:3.11-slim AS app
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY geo/ geo/
COPY dispatch/ dispatch/
RUN pip install -c constraints.txt .
COPY grid_data/nanning/ grid_data/nanning/
COPY --from=web /src/web/ web/
# the package is installed in site-packages: point it at the data and pages copied here
ENV GRIDDISPATCH_CITY_DIR=/app/grid_data/nanning \
    GRIDDISPATCH_WEB_DIR=/app/web \
    GRIDDISPATCH_PHOTO_DIR=/var/lib/griddispatch/photos
RUN useradd --system --uid 10001 --home-dir /app griddispatch \
    && mkdir -p /var/lib/griddispatch/photos \
    && chown -R griddispatch /var/lib/griddispatch
USER griddispatch
EXPOSE 8000
CMD ["griddispatch", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]

# ---- the proxy
FROM nginx:1.27-alpine AS proxy
# the image's own default server would also claim port 80
RUN rm -f /etc/nginx/conf.d/default.conf
COPY --from=web /src/web/static/ /srv/griddispatch/web/static/
