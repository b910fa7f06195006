#!/bin/sh
# The app container's start-up (docker-compose.yml runs exactly this; so does
# tests/test_compose.py, against a throwaway PostGIS): create or upgrade the
# schema, load the demo district if the database is empty, then serve the
# dashboard with waitress (a production WSGI server).
# Configured by GRIDMAP_DATABASE_URL, GRIDMAP_HOST (default 0.0.0.0, for the
# container's port mapping), GRIDMAP_PORT (default 8050) and the other GRIDMAP_*.
set -eu
: "${GRIDMAP_DATABASE_URL:?set GRIDMAP_DATABASE_URL to the postgresql:// URL of the database}"
gridmap db upgrade
gridmap demo --out "$GRIDMAP_DATABASE_URL" --if-empty --no-serve --quiet
exec gridmap serve "$GRIDMAP_DATABASE_URL" --host "${GRIDMAP_HOST:-0.0.0.0}" \
    --port "${GRIDMAP_PORT:-8050}" --production
