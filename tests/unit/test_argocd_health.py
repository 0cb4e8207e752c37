"""The Argo CD health checks (manifests/argocd), run by a real Lua 5.4 (lupa) on each case
of their health_test.yaml, the way Argo CD's own resource-customization tests do."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

lupa = pytest.importorskip("lupa.lua54")

ROOT = Path(__file__).parents[2] / "manifests" / "argocd" / "resource_customizations"
KINDS = sorted(path.parent for path in ROOT.glob("*/*/health.lua"))


def _cases() -> list[Any]:
    cases = []
    for kind_dir in KINDS:
        tests = yaml.safe_load((kind_dir / "health_test.yaml").read_text())["tests"]
        for test in tests:
            cases.append(
                pytest.param(kind_dir, test, id=f"{kind_dir.name}-{Path(test['inputPath']).stem}")
            )
    return cases


def run_health(script: str, obj: dict[str, Any]) -> dict[str, str]:
    """Runs ``script`` as Argo CD does: ``obj`` a global, the returned table the health."""
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    # YAML timestamps and such become strings, as they are in Argo CD's JSON.
    plain = json.loads(json.dumps(obj, default=str))
    runtime.globals().obj = runtime.table_from(plain, recursive=True)
    result = runtime.execute(script)
    return {key: result[key] for key in ("status", "message") if result[key] is not None}


def test_both_kinds_have_a_health_check() -> None:
    assert [p.name for p in KINDS] == ["EscalationPolicy", "Incident"]
    assert {p.parent.name for p in KINDS} == {"sre.agentos.io"}


@pytest.mark.parametrize(("kind_dir", "test"), _cases())
def test_health_case(kind_dir: Path, test: dict[str, Any]) -> None:
    obj = yaml.safe_load((kind_dir / test["inputPath"]).read_text())
    health = run_health((kind_dir / "health.lua").read_text(), obj)
    assert health == test["healthStatus"]


def test_every_testdata_file_is_a_case() -> None:
    for kind_dir in KINDS:
        tests = yaml.safe_load((kind_dir / "health_test.yaml").read_text())["tests"]
        named = {test["inputPath"] for test in tests}
        present = {f"testdata/{p.name}" for p in (kind_dir / "testdata").glob("*.yaml")}
        assert named == present, kind_dir.name
