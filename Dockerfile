# gridmap in a container: the same install as `./dev.sh` (pinned by constraints.txt).
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY gridmap ./gridmap
COPY layers ./layers
COPY data ./data
COPY assets ./assets
RUN pip install --no-cache-dir -c constraints.txt .
COPY docker/start.sh /usr/local/bin/gridmap-start
EXPOSE 8050
CMD ["gridmap-start"]
