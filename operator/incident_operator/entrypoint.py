"""The ``incident-operator`` command: ``run`` the operator, or render the ``crds``."""

import argparse
import sys
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    import kopf

    import incident_operator.handlers  # noqa: F401  (registers the handlers)

    kopf.configure(verbose=args.verbose)
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace or (),
        standalone=True,
        liveness_endpoint=args.liveness,
    )
    return 0


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


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="incident-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    run.add_argument(
        "--namespace", "-n", action="append", help="watch only this namespace (repeatable)"
    )
    run.add_argument(
        "--liveness",
        default=None,
        help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz",
    )
    run.add_argument("--verbose", "-v", action="store_true")
    run.set_defaults(handler=_run)
    crds = commands.add_parser("crds", help="render the CRDs from the API models")
    crds.add_argument("--output", default="crds", help="directory to write (default: crds)")
    crds.add_argument("--check", action="store_true", help="only compare; exit 1 on drift")
    crds.set_defaults(handler=_crds)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code
