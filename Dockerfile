# The dealwatch worker and scheduler image (docker-compose.yml builds it).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY dealwatch dealwatch
COPY events events
COPY projections projections
COPY services services
COPY alerts alerts
COPY sources sources
RUN pip install --no-cache-dir .
ENTRYPOINT ["dealwatch"]
