# The operator's image: `incident-operator run` on a slim Python, as a non-root user,
# with the package and its runtime dependencies only (no dev extras, no build tools).
#   docker build -t incident-operator:0.1.0 .
# The first stage builds wheels for the package and every dependency; the second
# installs exactly those, offline, so nothing else can slip in.
FROM python:3.11-slim-bookworm AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# The root filesystem is read-only in the pod: bytecode is compiled at install time and
# never written at run time; logs go straight to the container's stdout.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels incident-operator
# A numeric user, so Kubernetes can check runAsNonRoot without an /etc/passwd entry.
USER 65532:65532
# /healthz, /readyz and /metrics; the Alertmanager webhook receiver.
EXPOSE 8080 9095
ENTRYPOINT ["incident-operator", "run"]
