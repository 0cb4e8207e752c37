"""The ``incident-operator`` command: ``run`` the operator, or render the ``crds`` or the
``monitoring`` files (alerts and dashboards)."""

import argparse
import contextlib
import logging
import sys
import threading
from pathlib import Path

from incident_operator.config import add_run_arguments


def _run(args: argparse.Namespace) -> int:
    import kopf
    from kubernetes.config import ConfigException

    import incident_operator.handlers  # noqa: F401  (registers the handlers)
    from incident_operator.adapters import metrics
    from incident_operator.adapters.health_server import READINESS, Role, serve
    from incident_operator.adapters.kubernetes import api_client
    from incident_operator.adapters.leader_election import LeaderElector, LeaseSettings
    from incident_operator.adapters.leader_label import LeaderLabel
    from incident_operator.config import Settings

    try:
        settings = Settings.from_arguments(args)
    except ValueError as error:
        print(f"incident-operator run: {error}", file=sys.stderr)
        return 2
    # Logging first, so what leader election and the leader label say is seen.
    kopf.configure(verbose=settings.verbose, log_format=kopf.LogFormat[settings.log_format.upper()])
    if not settings.verbose:
        # kopf logs every handler call on every object at INFO ("Handler ... succeeded"):
        # in a storm of thousands of incidents, formatting those lines is a tenth of the
        # process's CPU. Its warnings and errors stay; --verbose brings the rest back.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # The kubeconfig is loaded here, before any thread that calls the API server and
    # before kopf's login (which loads it again): see adapters/kubernetes.py. A missing
    # one is left for kopf's login to report, as it always has.
    with contextlib.suppress(ConfigException):
        api_client()
    if settings.health_listen is not None:
        serve(*settings.health_listen)
    stop, lost = threading.Event(), threading.Event()
    # The Service in front of the Alertmanager receiver selects the leader's Pod by it.
    label = LeaderLabel.of_pod(settings.pod_namespace, settings.pod_name)
    elector = None
    if settings.leader_elect:
        elector = LeaderElector(
            LeaseSettings(
                namespace=settings.lease_namespace,
                name=settings.lease_name,
                identity=settings.identity,
                lease_duration=settings.lease_duration,
                renew_every=settings.lease_duration / 3,
                retry_every=min(2.0, settings.lease_duration / 5),
            )
        )
        # A label this Pod kept from a container that led before it restarted.
        label.clear()
        # A standby is ready while the API server answers its Lease reads.
        elector.wait_until_leader(stop, answered=READINESS.api_ok)
        label.mark()
        renewing = threading.Thread(
            target=elector.keep_leading,
            args=(stop, lost),
            kwargs={"renewed": label.mark},  # retries a label that could not be set
            name="lease",
            daemon=True,
        )
        renewing.start()
        # Losing the lease stops the operator: a standby may already be acting.
        threading.Thread(target=_stop_when, args=(lost, stop), daemon=True).start()
    else:
        label.mark()
    READINESS.role = Role.LEADER
    metrics.LEADING.set(1)
    try:
        kopf.run(
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            standalone=True,
            stop_flag=stop,
            memo=kopf.Memo(settings=settings, stop=stop),
        )
    finally:
        READINESS.role = Role.STOPPING
        metrics.LEADING.set(0)
        stop.set()
        # Before the Lease goes, so the Service stops sending webhooks here first.
        label.clear()
        if elector is not None and not lost.is_set():
            elector.release()
    return 1 if lost.is_set() else 0


def _stop_when(lost: threading.Event, stop: threading.Event) -> None:
    lost.wait()
    stop.set()


def _crds(args: argparse.Namespace) -> int:
    from incident_operator.api.crd import render_all

    output = Path(args.output)
    rendered = render_all()
    if args.check:
        stale = [name for name, text in rendered.items() if _read(output / name) != text]
        for name in stale:
            print(f"{output / name} differs from the models; run `make crds`", file=sys.stderr)
        return 1 if stale else 0
    output.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (output / name).write_text(text)
        print(output / name)
    return 0


def _monitoring(args: argparse.Namespace) -> int:
    from incident_operator.api.monitoring import render_monitoring

    output = Path(args.output)
    rendered = render_monitoring()
    if args.check:
        stale = [name for name, text in rendered.items() if _read(output / name) != text]
        for name in stale:
            print(f"{output / name} is stale; run `make monitoring`", file=sys.stderr)
        return 1 if stale else 0
    for name, text in rendered.items():
        (output / name).parent.mkdir(parents=True, exist_ok=True)
        (output / name).write_text(text)
        print(output / name)
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="incident-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    add_run_arguments(run)
    run.set_defaults(handler=_run)
    crds = commands.add_parser("crds", help="render the CRDs from the API models")
    crds.add_argument("--output", default="crds", help="directory to write (default: crds)")
    crds.add_argument("--check", action="store_true", help="only compare; exit 1 on drift")
    crds.set_defaults(handler=_crds)
    monitoring = commands.add_parser(
        "monitoring", help="render the operator's alerts and the Grafana dashboards"
    )
    monitoring.add_argument(
        "--output",
        default="manifests/components/monitoring",
        help="directory to write (default: manifests/components/monitoring)",
    )
    monitoring.add_argument("--check", action="store_true", help="only compare; exit 1 on drift")
    monitoring.set_defaults(handler=_monitoring)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code
