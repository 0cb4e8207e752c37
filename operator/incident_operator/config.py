"""Every setting of ``incident-operator run``: its flags, their environment variables, one object.

Read once at start (``Settings.from_arguments``), never from the environment at import
time, and handed to the services that need it (kopf's memo carries it to the startup
handlers). A flag always wins over its environment variable; the README's flag table
lists the same names, defaults and meanings as ``add_run_arguments`` does here.
"""

import argparse
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from incident_operator.domain.http_headers import bad_header_name

# --log-format: kopf's log formats (kopf.LogFormat), by their lower-case names.
LOG_FORMATS = ("full", "plain", "json")


def _host_port(text: str, flag: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{flag} {text!r}: expected HOST:PORT, e.g. 0.0.0.0:8080")
    return host, int(port)


def _positive_seconds(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected a number of seconds") from None
    if not 0 < value <= 300:
        raise ValueError(f"{flag} {text!r}: expected seconds between 0 and 300")
    return value


def _namespaced_name(text: str | None, flag: str) -> tuple[str, str] | None:
    """NAMESPACE/NAME as a pair; None when unset."""
    if not text:
        return None
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise ValueError(f"{flag} {text!r}: expected NAMESPACE/NAME")
    return namespace, name


def _secret_key(text: str | None, flag: str, default_key: str) -> tuple[str, str, str] | None:
    """NAMESPACE/NAME[:KEY] as (namespace, name, key); None when unset."""
    if not text:
        return None
    reference, _, key = text.partition(":")
    namespace, _, name = reference.partition("/")
    if not namespace or not name or "/" in name:
        raise ValueError(f"{flag} {text!r}: expected NAMESPACE/NAME[:KEY]")
    return namespace, name, key or default_key


def _header(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    name = name.strip()
    if not equals or "\n" in value or "\r" in value:
        raise ValueError(f"--prometheus-header {text!r}: expected NAME=VALUE")
    if (why := bad_header_name(name)) is not None:
        raise ValueError(f"--prometheus-header {name!r}: {why}")
    return name, value.strip()


def _prometheus_access(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields of the Prometheus connection, checked together."""
    bearer = _secret_key(
        args.prometheus_bearer_token_secret, "--prometheus-bearer-token-secret", "token"
    )
    basic = _namespaced_name(args.prometheus_basic_auth_secret, "--prometheus-basic-auth-secret")
    if bearer and basic:
        raise ValueError(
            "--prometheus-bearer-token-secret and --prometheus-basic-auth-secret: give one"
        )
    ca_file = args.prometheus_ca_file or None
    ca_secret = _secret_key(args.prometheus_ca_secret, "--prometheus-ca-secret", "ca.crt")
    if ca_file and ca_secret:
        raise ValueError("--prometheus-ca-file and --prometheus-ca-secret: give one")
    if args.prometheus_insecure_skip_verify and (ca_file or ca_secret):
        raise ValueError(
            "--prometheus-insecure-skip-verify checks no certificate: drop it or the CA flag"
        )
    return {
        "prometheus_bearer_token_secret": bearer,
        "prometheus_basic_auth_secret": basic,
        "prometheus_ca_file": ca_file,
        "prometheus_ca_secret": ca_secret,
        "prometheus_insecure_skip_verify": args.prometheus_insecure_skip_verify,
        "prometheus_headers": tuple(_header(h) for h in args.prometheus_header or ()),
        "prometheus_headers_secret": _namespaced_name(
            args.prometheus_headers_secret, "--prometheus-headers-secret"
        ),
    }


def _lease_seconds(text: str) -> float:
    # The Lease holds whole seconds, renewed every third of them.
    value = _positive_seconds(text, "--lease-duration")
    if value < 3 or not value.is_integer():
        raise ValueError(f"--lease-duration {text!r}: expected whole seconds, at least 3")
    return value


@dataclass(frozen=True)
class Settings:
    #: Namespaces watched; empty: the whole cluster.
    namespaces: tuple[str, ...] = ()
    #: HOST:PORT of /healthz, /readyz and /metrics; None: not served.
    health_listen: tuple[str, int] | None = None
    #: Act only while holding the Lease, so one of several replicas acts.
    leader_elect: bool = False
    #: Namespace and name of the leader Lease.
    lease_namespace: str = "incident-operator"
    lease_name: str = "incident-operator"
    #: Seconds a Lease lasts unrenewed: how long a standby waits after its leader died.
    lease_duration: float = 15.0
    #: This replica's name in the Lease.
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    #: The Pod this process runs in (downward API), labelled while it leads; None outside a Pod.
    pod_namespace: str | None = None
    pod_name: str | None = None
    #: kopf's and our debug logging.
    verbose: bool = False
    #: How log lines are written: kopf's "full" (timestamped text), "plain" or "json".
    log_format: str = "full"
    #: Prometheus polled by detection rules; None: threshold detection is off.
    prometheus_url: str | None = None
    #: Seconds one PromQL query may take.
    prometheus_timeout: float = 5.0
    #: Where the Alertmanager webhook receiver listens.
    alertmanager_host: str = "127.0.0.1"
    alertmanager_port: int = 9095
    #: (namespace, name) of the Secret whose key ``alertmanager_token_key`` Alertmanager
    #: presents as a bearer token; None: the receiver is off.
    alertmanager_token_secret: tuple[str, str] | None = None
    alertmanager_token_key: str = "token"
    #: (namespace, name) of the Secret whose key ``pagerduty_webhook_secret_key`` holds the
    #: PagerDuty v3 webhook subscription's signing secret; None: /pagerduty is off.
    pagerduty_webhook_secret: tuple[str, str] | None = None
    pagerduty_webhook_secret_key: str = "secret"
    #: Where incidents PagerDuty triggers are declared; None: the secret's namespace.
    pagerduty_namespace: str | None = None
    #: (namespace, name) of the Secret holding the operator's Slack app credentials (keys
    #: ``bot-token`` and ``signing-secret``); None: no Slack app (docs/chat-ops.md).
    slack_app_secret: tuple[str, str] | None = None
    #: Slack's Web API base URL (the tests point it at a local fake).
    slack_api_url: str = "https://slack.com/api/"
    #: HOST:PORT of the public status page (docs/status-page.md); None: not served.
    status_page_listen: tuple[str, int] | None = None
    #: The status page's name, its h1 and its JSON ``page.name``.
    status_page_title: str = "Status"
    #: The page's public base URL, for the Atom feed's and the JSON's links; None: the
    #: URL each request was made to.
    status_page_url: str | None = None
    #: Seconds one notification send may take; a claim's lease is this plus 5 seconds.
    send_timeout: float = 10.0
    #: Seconds between two reads of each ConfigMap and Secret whose versions are kept
    #: (docs/remediation/config-rollback.md).
    config_snapshot_interval: float = 15.0
    #: How detection reaches a Prometheus that is not open (docs/install.md, "Connecting
    #: to Prometheus"): (namespace, name, key) of a bearer token's Secret, or (namespace,
    #: name) of a Secret with keys username and password; a CA bundle's file or (namespace,
    #: name, key) Secret; no certificate checks at all; fixed headers, e.g. a tenant's.
    prometheus_bearer_token_secret: tuple[str, str, str] | None = None
    prometheus_basic_auth_secret: tuple[str, str] | None = None
    prometheus_ca_file: str | None = None
    prometheus_ca_secret: tuple[str, str, str] | None = None
    prometheus_insecure_skip_verify: bool = False
    prometheus_headers: tuple[tuple[str, str], ...] = ()
    #: (namespace, name) of a Secret whose every key is a header sent with each query.
    prometheus_headers_secret: tuple[str, str] | None = None

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> "Settings":
        """From parsed ``run`` arguments; ValueError names the malformed flag."""
        secret = _namespaced_name(args.alertmanager_token_secret, "--alertmanager-token-secret")
        pagerduty_secret = _namespaced_name(
            args.pagerduty_webhook_secret, "--pagerduty-webhook-secret"
        )
        prometheus_url = args.prometheus_url or None
        if prometheus_url and not prometheus_url.startswith(("http://", "https://")):
            raise ValueError(f"--prometheus-url {prometheus_url!r}: expected an http(s) URL")
        if prometheus_url and "@" in urlsplit(prometheus_url).netloc:
            # The URL is in conditions and logs: credentials go in a Secret, never in it.
            raise ValueError(
                "--prometheus-url: no credentials in the URL; give them with "
                "--prometheus-basic-auth-secret"
            )
        alertmanager_host, alertmanager_port = _host_port(
            args.alertmanager_listen, "--alertmanager-listen"
        )
        slack_app_secret = _namespaced_name(args.slack_app_secret, "--slack-app-secret")
        slack_api_url = args.slack_api_url.rstrip("/") + "/"
        if not slack_api_url.startswith(("http://", "https://")):
            raise ValueError(f"--slack-api-url {args.slack_api_url!r}: expected an http(s) URL")
        status_page_url = (args.status_page_url or "").rstrip("/") or None
        if status_page_url and not status_page_url.startswith(("http://", "https://")):
            raise ValueError(f"--status-page-url {status_page_url!r}: expected an http(s) URL")
        return cls(
            namespaces=tuple(args.namespace or ()),
            health_listen=(
                _host_port(args.health_listen, "--health-listen") if args.health_listen else None
            ),
            leader_elect=args.leader_elect,
            lease_namespace=args.lease_namespace,
            lease_name=args.lease_name,
            lease_duration=_lease_seconds(args.lease_duration),
            identity=args.identity,
            pod_namespace=args.pod_namespace or None,
            pod_name=args.pod_name or None,
            verbose=args.verbose,
            log_format=args.log_format,
            prometheus_url=prometheus_url,
            prometheus_timeout=_positive_seconds(args.prometheus_timeout, "--prometheus-timeout"),
            alertmanager_host=alertmanager_host,
            alertmanager_port=alertmanager_port,
            alertmanager_token_secret=secret,
            pagerduty_webhook_secret=pagerduty_secret,
            pagerduty_webhook_secret_key=args.pagerduty_webhook_secret_key,
            pagerduty_namespace=args.pagerduty_namespace or None,
            slack_app_secret=slack_app_secret,
            slack_api_url=slack_api_url,
            status_page_listen=(
                _host_port(args.status_page_listen, "--status-page-listen")
                if args.status_page_listen
                else None
            ),
            status_page_title=args.status_page_title or "Status",
            status_page_url=status_page_url,
            send_timeout=_positive_seconds(args.send_timeout, "--send-timeout"),
            config_snapshot_interval=_positive_seconds(
                args.config_snapshot_interval, "--config-snapshot-interval"
            ),
            **_prometheus_access(args),
        )


def add_run_arguments(
    parser: argparse.ArgumentParser, environ: Mapping[str, str] = os.environ
) -> None:
    """The ``run`` flags; each environment variable is the default of its flag."""
    env = environ.get
    parser.add_argument(
        "--namespace", "-n", action="append", help="watch only this namespace (repeatable)"
    )
    parser.add_argument(
        "--health-listen",
        default=env("HEALTH_LISTEN"),
        help="HOST:PORT serving /healthz, /readyz and /metrics (env HEALTH_LISTEN)",
    )
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="run only while holding the Lease, so one of several replicas acts",
    )
    parser.add_argument(
        "--lease-namespace",
        default=env("POD_NAMESPACE", "incident-operator"),
        help="namespace of the leader Lease (env POD_NAMESPACE)",
    )
    parser.add_argument("--lease-name", default="incident-operator", help="name of the Lease")
    parser.add_argument(
        "--lease-duration",
        default=env("LEASE_DURATION", "15"),
        help="seconds the Lease lasts unrenewed, so a standby takes over that long after its "
        "leader died; renewed every third of it (env LEASE_DURATION; default 15)",
    )
    parser.add_argument(
        "--identity",
        default=env("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}",
        help="this replica's name in the Lease (env POD_NAME; default host-pid)",
    )
    parser.add_argument(
        "--pod-namespace",
        default=env("POD_NAMESPACE"),
        help="namespace of this Pod, labelled while it leads (env POD_NAMESPACE)",
    )
    parser.add_argument(
        "--pod-name",
        default=env("POD_NAME"),
        help="name of this Pod, labelled while it leads (env POD_NAME)",
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=env("LOG_FORMAT") or "full",
        help="full: timestamped text (default); plain: the message only; json: one JSON "
        "object a line, for log collectors (env LOG_FORMAT)",
    )
    parser.add_argument(
        "--prometheus-url",
        default=env("PROMETHEUS_URL"),
        help="Prometheus to poll for detection rules (env PROMETHEUS_URL); unset: no polling",
    )
    parser.add_argument(
        "--prometheus-timeout",
        default=env("PROMETHEUS_TIMEOUT", "5"),
        help="seconds one PromQL query may take (env PROMETHEUS_TIMEOUT; default 5)",
    )
    parser.add_argument(
        "--alertmanager-listen",
        default=env("ALERTMANAGER_LISTEN", "127.0.0.1:9095"),
        help="HOST:PORT of the Alertmanager webhook receiver (env ALERTMANAGER_LISTEN)",
    )
    parser.add_argument(
        "--alertmanager-token-secret",
        default=env("ALERTMANAGER_TOKEN_SECRET"),
        help="NAMESPACE/NAME of the Secret whose key `token` Alertmanager must send as a "
        "bearer token (env ALERTMANAGER_TOKEN_SECRET); unset: no receiver",
    )
    parser.add_argument(
        "--pagerduty-webhook-secret",
        default=env("PAGERDUTY_WEBHOOK_SECRET"),
        help="NAMESPACE/NAME of the Secret holding the PagerDuty v3 webhook subscription's "
        "signing secret; POST /pagerduty on the receiver's port (env "
        "PAGERDUTY_WEBHOOK_SECRET); unset: no PagerDuty intake",
    )
    parser.add_argument(
        "--pagerduty-webhook-secret-key",
        default=env("PAGERDUTY_WEBHOOK_SECRET_KEY", "secret"),
        help="the key of that Secret (env PAGERDUTY_WEBHOOK_SECRET_KEY; default secret)",
    )
    parser.add_argument(
        "--pagerduty-namespace",
        default=env("PAGERDUTY_NAMESPACE"),
        help="where incidents triggered in PagerDuty are declared (env PAGERDUTY_NAMESPACE; "
        "default: the namespace of --pagerduty-webhook-secret)",
    )
    parser.add_argument(
        "--slack-app-secret",
        default=env("SLACK_APP_SECRET"),
        help="NAMESPACE/NAME of the Secret holding the operator's Slack app credentials "
        "(keys bot-token and signing-secret): slackApp channels, incident channels and "
        "actions from Slack (env SLACK_APP_SECRET; docs/chat-ops.md); unset: no Slack app",
    )
    parser.add_argument(
        "--slack-api-url",
        default=env("SLACK_API_URL", "https://slack.com/api/"),
        help="Slack's Web API base URL (env SLACK_API_URL; default https://slack.com/api/)",
    )
    parser.add_argument(
        "--status-page-listen",
        default=env("STATUS_PAGE_LISTEN"),
        help="HOST:PORT of the public status page (env STATUS_PAGE_LISTEN); unset: no page",
    )
    parser.add_argument(
        "--status-page-title",
        default=env("STATUS_PAGE_TITLE", "Status"),
        help="the status page's name (env STATUS_PAGE_TITLE; default Status)",
    )
    parser.add_argument(
        "--status-page-url",
        default=env("STATUS_PAGE_URL"),
        help="the status page's public base URL, for links in its Atom feed and JSON (env "
        "STATUS_PAGE_URL; default: the URL each request was made to)",
    )
    parser.add_argument(
        "--send-timeout",
        default=env("INCIDENT_OPERATOR_SEND_TIMEOUT", "10"),
        help="seconds one notification send may take (env INCIDENT_OPERATOR_SEND_TIMEOUT; "
        "default 10)",
    )
    parser.add_argument(
        "--config-snapshot-interval",
        default=env("INCIDENT_OPERATOR_CONFIG_SNAPSHOT_INTERVAL", "15"),
        help="seconds between two reads of each ConfigMap and Secret whose versions are "
        "kept for configRollback (env INCIDENT_OPERATOR_CONFIG_SNAPSHOT_INTERVAL; default 15)",
    )
    _add_prometheus_access_arguments(parser, environ)


def _add_prometheus_access_arguments(
    parser: argparse.ArgumentParser, environ: Mapping[str, str]
) -> None:
    """Credentials, TLS trust and headers for --prometheus-url (docs/install.md)."""
    env = environ.get
    parser.add_argument(
        "--prometheus-bearer-token-secret",
        default=env("PROMETHEUS_BEARER_TOKEN_SECRET"),
        help="NAMESPACE/NAME[:KEY] of the Secret whose key (default token) detection sends "
        "to Prometheus as a bearer token; read again when Prometheus answers 401 or 403 "
        "(env PROMETHEUS_BEARER_TOKEN_SECRET)",
    )
    parser.add_argument(
        "--prometheus-basic-auth-secret",
        default=env("PROMETHEUS_BASIC_AUTH_SECRET"),
        help="NAMESPACE/NAME of the Secret with keys username and password for Prometheus' "
        "basic auth (env PROMETHEUS_BASIC_AUTH_SECRET)",
    )
    parser.add_argument(
        "--prometheus-ca-file",
        default=env("PROMETHEUS_CA_FILE"),
        help="PEM file of the CA that signed Prometheus' certificate, trusted besides the "
        "system's, e.g. mounted with the chart's extraVolumes (env PROMETHEUS_CA_FILE)",
    )
    parser.add_argument(
        "--prometheus-ca-secret",
        default=env("PROMETHEUS_CA_SECRET"),
        help="NAMESPACE/NAME[:KEY] of the Secret whose key (default ca.crt) holds that CA "
        "(env PROMETHEUS_CA_SECRET)",
    )
    parser.add_argument(
        "--prometheus-insecure-skip-verify",
        action="store_true",
        default=env("PROMETHEUS_INSECURE_SKIP_VERIFY", "").lower() in ("1", "true", "yes"),
        help="check no TLS certificate of Prometheus: anyone on the path can read the "
        "credentials and forge answers; for a test cluster only "
        "(env PROMETHEUS_INSECURE_SKIP_VERIFY)",
    )
    parser.add_argument(
        "--prometheus-header",
        action="append",
        help="NAME=VALUE sent with every query, e.g. X-Scope-OrgID=tenant-a for a "
        "Mimir, Cortex or Thanos tenant (repeatable)",
    )
    parser.add_argument(
        "--prometheus-headers-secret",
        default=env("PROMETHEUS_HEADERS_SECRET"),
        help="NAMESPACE/NAME of a Secret whose every key is a header sent with every query "
        "(its value the header's), read at the first connection "
        "(env PROMETHEUS_HEADERS_SECRET)",
    )
