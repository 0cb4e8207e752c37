#!/usr/bin/env bash
# Copies the files the Helm chart and the kustomize install share with the rest of the
# repository into the places each tool can read: helm reads nothing outside the chart,
# and kustomize (kubectl apply -k) nothing outside manifests/. The originals:
#   crds/*.yaml                          -> charts/incident-operator/crds/, manifests/crds/
#   manifests/admission/*.yaml           -> charts/incident-operator/files/admission/
#   manifests/rbac/incident-responder.yaml, manifests/rbac/aggregated-roles.yaml,
#   manifests/install/clusterrole.yaml, manifests/install/rollback-clusterrole.yaml
#                                        -> charts/incident-operator/files/
#   manifests/remediations/KIND/clusterrole.yaml
#                                        -> charts/incident-operator/files/remediations/KIND.yaml
# `make crds` runs it; tests/unit/test_chart.py fails when a copy is stale.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chart="$root/charts/incident-operator"

copy_yaml() {  # copy_yaml SRC_DIR DEST_DIR: replace DEST_DIR's *.yaml with SRC_DIR's
  local src=$1 dest=$2 f
  mkdir -p "$dest"
  rm -f "$dest"/*.yaml
  for f in "$src"/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] && continue
    cp "$f" "$dest/"
  done
}

copy_yaml "$root/crds" "$chart/crds"
copy_yaml "$root/crds" "$root/manifests/crds"
{
  echo "# Written by hack/sync-chart.sh: the CRDs of ../../crds, copied here because"
  echo "# kustomize reads no file outside manifests/."
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  for f in "$root"/manifests/crds/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || echo "  - $(basename "$f")"
  done
} >"$root/manifests/crds/kustomization.yaml.tmp"
mv "$root/manifests/crds/kustomization.yaml.tmp" "$root/manifests/crds/kustomization.yaml"
copy_yaml "$root/manifests/admission" "$chart/files/admission"
cp "$root/manifests/rbac/incident-responder.yaml" "$chart/files/incident-responder.yaml"
cp "$root/manifests/install/clusterrole.yaml" "$chart/files/clusterrole.yaml"
cp "$root/manifests/install/rollback-clusterrole.yaml" "$chart/files/rollback-clusterrole.yaml"
cp "$root/manifests/rbac/aggregated-roles.yaml" "$chart/files/aggregated-roles.yaml"
mkdir -p "$chart/files/remediations"
rm -f "$chart/files/remediations"/*.yaml
for f in "$root"/manifests/remediations/*/clusterrole.yaml; do
  cp "$f" "$chart/files/remediations/$(basename "$(dirname "$f")").yaml"
done
# The operator's alerts and dashboards (`make monitoring` writes the originals):
#   manifests/components/monitoring/incident-operator.rules.yaml, dashboards/*.json
#                                        -> charts/incident-operator/files/monitoring/
mkdir -p "$chart/files/monitoring/dashboards"
cp "$root/manifests/components/monitoring/incident-operator.rules.yaml" "$chart/files/monitoring/"
rm -f "$chart/files/monitoring/dashboards"/*.json
cp "$root"/manifests/components/monitoring/dashboards/*.json "$chart/files/monitoring/dashboards/"
