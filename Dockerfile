# The driftline image used by docker-compose.yml: every role is `driftline <command>`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY driftline ./driftline
COPY producers ./producers
COPY consumers ./consumers
COPY detectors ./detectors
COPY retrainer ./retrainer
RUN pip install --no-cache-dir '.[postgres]'
# The workers run as an unprivileged user; /data is theirs, and a new volume mounted
# there takes its owner from the image.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin driftline \
    && mkdir -p /data && chown driftline /data
USER driftline
ENV DRIFTLINE_HOME=/data
VOLUME /data
ENTRYPOINT ["driftline"]
