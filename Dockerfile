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
ENV DRIFTLINE_HOME=/data
VOLUME /data
ENTRYPOINT ["driftline"]
