# liveguard relay: a small, non-root image. Build: docker build -t liveguard .
# Run: docker run -p 8080:8080 -e LIVEGUARD_AUTH_TOKEN=... -e LIVEGUARD_TWILIO_AUTH_TOKEN=... \
#        -e GEMINI_API_KEY=... liveguard
# (a public address needs both tokens, or --insecure: docs/relay.md "Production")

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/liveguard \
 && /opt/liveguard/bin/pip install --no-compile . \
 && find /opt/liveguard -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.11-slim
ENV PATH=/opt/liveguard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LIVEGUARD_LOG_DIR=/var/log/liveguard
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin liveguard \
 && mkdir -p /var/log/liveguard && chown liveguard /var/log/liveguard
COPY --from=build /opt/liveguard /opt/liveguard
USER 10001:10001
EXPOSE 8080
# SIGTERM drains: calls in progress go on up to drain_timeout_s (default 3600 s)
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=2)"]
ENTRYPOINT ["liveguard", "serve", "--host", "0.0.0.0", "--port", "8080"]
