#!/bin/sh
# The app container's start-up (docker-compose.yml runs exactly this; so does
# tests/test_compose.py, against a throwaway PostGIS): create or upgrade the
# schema, load the demo district if the database is empty.
# Configured by GRIDMAP_DATABASE_URL (and the other GRIDMAP_* variables).
set -eu
: "${GRIDMAP_DATABASE_URL:?set GRIDMAP_DATABASE_URL to the postgresql:// URL of the database}"
gridmap db upgrade
gridmap demo --out "$GRIDMAP_DATABASE_URL" --if-empty --no-serve --quiet
# Serving the dashboard on port 8050 with a production WSGI server joins here
# when the dashboard exists (issue #6); until then the container loads the
# database and stops.
