"""How the operator reaches a Prometheus that is not open: credentials, TLS and headers.

Hosted and multi-tenant Prometheus (Mimir, Cortex, Thanos behind a gateway, Grafana
Cloud, a kube-rbac-proxy in front of the in-cluster one) wants one of:

- a bearer token or a username and password, from a Secret: read in a thread, cached
  for 30 seconds, and read again (at most every 5 seconds) when Prometheus answers 401
  or 403, so rotating the Secret needs no restart (``CachedToken``, as the intakes do);
- a CA bundle that signed its serving certificate, from a Secret key or a file (a
  mounted ConfigMap or Secret); read when the client first connects, so a new CA needs
  a restart;
- fixed headers, e.g. ``X-Scope-OrgID`` naming the tenant, from flags or from a Secret
  (each key a header); the Secret is read when the client first connects, like the CA.

Values are never logged and never put in a message; messages name the Secret and key.
"""

import base64
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from incident_operator.adapters.alertmanager_receiver import CachedToken
from incident_operator.adapters.secrets import (
    SecretError,
    read_secret_data,
    read_secret_value,
    secret_reader,
)
from incident_operator.api.base import SecretKeyReference
from incident_operator.domain.http_headers import bad_header_name

# The keys of a basic-auth Secret, as Kubernetes' own kubernetes.io/basic-auth type has them.
USERNAME_KEY = "username"
PASSWORD_KEY = "password"

# Blocking: the TLS setting of the client's connections (a context, or False: no checks).
TlsSetting = Callable[[], ssl.SSLContext | bool]
# Blocking: headers read when the client connects.
HeaderReader = Callable[[], dict[str, str]]


def _verify_by_default() -> ssl.SSLContext | bool:
    return True


def _no_headers() -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class PrometheusAccess:
    """What every query carries beyond the PromQL."""

    #: Sent with every query, e.g. {"X-Scope-OrgID": "tenant-a"}.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The Authorization header's value, cached from its Secret; None: none sent.
    authorization: CachedToken | None = None
    #: Where the credentials come from, for the message of a 401 or 403.
    credentials: str = "no credentials are configured"
    #: Blocking: the TLS setting, built when the client first connects.
    tls: TlsSetting = _verify_by_default
    #: Blocking: headers from a Secret, read when the client first connects.
    secret_headers: HeaderReader = _no_headers


def bearer_token_reader(namespace: str, name: str, key: str) -> Callable[[], str | None]:
    """The ``Authorization`` value for the token in ``key`` of Secret namespace/name."""
    read = secret_reader(namespace, name, key)

    def authorization() -> str | None:
        token = read()
        return f"Bearer {token}" if token else None

    return authorization


def basic_auth_reader(namespace: str, name: str) -> Callable[[], str | None]:
    """The ``Authorization`` value for the username and password of Secret namespace/name."""

    def authorization() -> str | None:
        username = read_secret_value(namespace, SecretKeyReference(name=name, key=USERNAME_KEY))
        password = read_secret_value(namespace, SecretKeyReference(name=name, key=PASSWORD_KEY))
        pair = f"{username}:{password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"

    return authorization


def headers_reader(namespace: str, name: str) -> HeaderReader:
    """Each key of Secret namespace/name as a header; SecretError names a bad key."""

    def headers() -> dict[str, str]:
        found = read_secret_data(namespace, name)
        for key in found:
            if (why := bad_header_name(key)) is not None:
                raise SecretError(f"Secret {namespace}/{name} key {key!r}: {why}")
        return found

    return headers


def tls_setting(
    ca_file: str | None = None,
    ca_secret: tuple[str, str, str] | None = None,
    insecure_skip_verify: bool = False,
) -> TlsSetting:
    """Blocking: trust the system's CAs plus ``ca_file`` or the PEM in (namespace, name,
    key) ``ca_secret``; or check nothing with ``insecure_skip_verify``.

    Raises SecretError, OSError or ssl.SSLError, each naming its source.
    """

    def build() -> ssl.SSLContext | bool:
        if insecure_skip_verify:
            return False
        if ca_file is None and ca_secret is None:
            return True
        context = ssl.create_default_context()
        if ca_file is not None:
            try:
                context.load_verify_locations(cafile=ca_file)
            except (OSError, ssl.SSLError) as error:
                raise OSError(f"the CA file {ca_file}: {error.strerror or error}") from None
        if ca_secret is not None:
            namespace, name, key = ca_secret
            pem = read_secret_value(namespace, SecretKeyReference(name=name, key=key))
            try:
                context.load_verify_locations(cadata=pem)
            except ssl.SSLError:
                raise ssl.SSLError(
                    f"Secret {namespace}/{name} key {key!r} holds no PEM certificate"
                ) from None
        return context

    return build


def access(
    *,
    bearer_token: tuple[str, str, str] | None = None,
    basic_auth: tuple[str, str] | None = None,
    ca_file: str | None = None,
    ca_secret: tuple[str, str, str] | None = None,
    insecure_skip_verify: bool = False,
    headers: Mapping[str, str] | None = None,
    headers_secret: tuple[str, str] | None = None,
) -> PrometheusAccess:
    """The access the operator's flags describe (at most one of bearer and basic)."""
    authorization, credentials = None, "no credentials are configured"
    if bearer_token is not None:
        namespace, name, key = bearer_token
        authorization = CachedToken(
            bearer_token_reader(namespace, name, key),
            what="the Prometheus bearer token",
            consequence="queries carry none",
        )
        credentials = f"the token in Secret {namespace}/{name} key {key!r}"
    elif basic_auth is not None:
        namespace, name = basic_auth
        authorization = CachedToken(
            basic_auth_reader(namespace, name),
            what="the Prometheus basic-auth credentials",
            consequence="queries carry none",
        )
        credentials = f"the username and password in Secret {namespace}/{name}"
    return PrometheusAccess(
        headers=dict(headers or {}),
        authorization=authorization,
        credentials=credentials,
        tls=tls_setting(ca_file, ca_secret, insecure_skip_verify),
        secret_headers=_no_headers if headers_secret is None else headers_reader(*headers_secret),
    )
