"""Plugin start-up benchmark: `kubectl incident` against kubectl doing the same request.

Run with ``python -m bench.plugin_startup`` (``make bench-plugin``; not part of the test
run). Starts its own control plane (or uses ``--kubeconfig``), creates incidents in a
namespace of its own, then for each trial runs, interleaved so both see the same load:

- ``kubectl incident ack p-N``          against ``kubectl annotate incident k-N ...``
- ``kubectl incident show p-0``         against ``kubectl get incident p-0``
- ``kubectl incident list``             against ``kubectl get incidents``
- ``kubectl incident approve-rollback`` against ``kubectl annotate`` of the approval

and takes each process's wall time. The package's bytecode is compiled first, as pip
does when it installs the plugin: with ``PYTHONDONTWRITEBYTECODE`` set (or a read-only
tree) every run would otherwise compile the plugin's modules again. No operator runs,
so approve-rollback ends at "no proposal" (exit 1) after the same reads it makes when
one exists; the others succeed.
Prints p50 and p90 of each and the ratio of the p50s (the goal is at most 2), and
writes them as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from bench.common import control_plane, percentile

PLUGIN = Path(sys.executable).parent / "kubectl-incident"
NAMESPACE = f"bench-plugin-{secrets.token_hex(3)}"
ACKNOWLEDGED_BY = "sre.agentos.io/acknowledged-by"
APPROVAL = "sre.agentos.io/approve-rollback"


def _compile_bytecode() -> None:
    """The plugin's modules as an installed wheel has them: compiled once, not per run."""
    import incident_operator

    compileall.compile_dir(Path(incident_operator.__file__).parent, quiet=1)


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, check=False, timeout=120)
    return time.perf_counter() - started, result.returncode


def _incident(name: str) -> dict[str, object]:
    return {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"title": f"{name} is down", "severity": "P2"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plugin_startup", description=__doc__)
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--kubeconfig", help="use this cluster instead of starting one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    _compile_bytecode()
    with control_plane(args.kubeconfig, "plugin-bench-") as (kubeconfig, kubectl_path):
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        kubectl = [str(kubectl_path), "-n", NAMESPACE]
        plugin = [str(PLUGIN), "-n", NAMESPACE]
        subprocess.run([str(kubectl_path), "create", "namespace", NAMESPACE], env=env, check=True)
        names = [f"{side}-{n}" for n in range(args.trials) for side in ("p", "k")]
        manifest = {"apiVersion": "v1", "kind": "List", "items": [_incident(n) for n in names]}
        subprocess.run(
            [*kubectl, "apply", "-f", "-"],
            input=json.dumps(manifest).encode(),
            env=env,
            check=True,
            capture_output=True,
        )
        pairs = {
            "ack": lambda n: (
                [*plugin, "ack", f"p-{n}"],
                [*kubectl, "annotate", "incident", f"k-{n}", f"{ACKNOWLEDGED_BY}=admin"],
            ),
            "show": lambda n: ([*plugin, "show", "p-0"], [*kubectl, "get", "incident", "p-0"]),
            "list": lambda n: ([*plugin, "list"], [*kubectl, "get", "incidents"]),
            "approve-rollback": lambda n: (
                [*plugin, "approve-rollback", f"p-{n}"],
                [*kubectl, "annotate", "--overwrite", "incident", f"k-{n}", f"{APPROVAL}=p"],
            ),
        }
        # One untimed run of each: the first start of a process warms the page cache.
        for build in pairs.values():
            for command in build(0):
                _timed(command, env)
        times: dict[str, dict[str, list[float]]] = {
            name: {"plugin": [], "kubectl": []} for name in pairs
        }
        exits: dict[str, set[int]] = {name: set() for name in pairs}
        for trial in range(args.trials):
            for name, build in pairs.items():
                ours, theirs = build(trial)
                took, code = _timed(ours, env)
                times[name]["plugin"].append(took)
                exits[name].add(code)
                times[name]["kubectl"].append(_timed(theirs, env)[0])
        subprocess.run(
            [str(kubectl_path), "delete", "namespace", NAMESPACE, "--wait=false"],
            env=env,
            check=False,
            capture_output=True,
        )
    figures = {}
    print(
        f"{'command':<18} {'plugin p50':>10} {'p90':>7} {'kubectl p50':>12} {'p90':>7} {'ratio':>6}"
    )
    for name, measured in times.items():
        ours, theirs = measured["plugin"], measured["kubectl"]
        row = {
            "plugin_p50_ms": percentile(ours, 0.5) * 1000,
            "plugin_p90_ms": percentile(ours, 0.9) * 1000,
            "kubectl_p50_ms": percentile(theirs, 0.5) * 1000,
            "kubectl_p90_ms": percentile(theirs, 0.9) * 1000,
            "plugin_exit_codes": sorted(exits[name]),
        }
        row["ratio_p50"] = row["plugin_p50_ms"] / row["kubectl_p50_ms"]
        figures[name] = row
        print(
            f"{name:<18} {row['plugin_p50_ms']:>8.0f}ms {row['plugin_p90_ms']:>5.0f}ms "
            f"{row['kubectl_p50_ms']:>10.0f}ms {row['kubectl_p90_ms']:>5.0f}ms "
            f"{row['ratio_p50']:>5.1f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
