#!/usr/bin/env bash
# make e2e-kind: the end-to-end scenario (tests/e2e) against the operator as users install
# it: the image built from the Dockerfile, loaded into a kind cluster, the Helm chart
# installed with it. Needs a running Docker engine (kind's nodes are containers); the
# development sandbox has none, so this runs on a machine that does.
# Arguments are passed to pytest. The cluster is deleted at the end, pass or fail,
# unless KEEP_CLUSTER=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/versions.env"

cluster=${KIND_CLUSTER_NAME:-incident-operator-e2e}
image=incident-operator:e2e
release=incident-operator
namespace=incident-operator

if ! docker info >/dev/null 2>&1; then
  echo "error: make e2e-kind needs a running Docker engine (docker info failed)" >&2
  exit 1
fi
# helm (and kubectl for the tests) from the binary cache; kind from its Go module.
bin=$("$root/hack/build-binaries.sh" | tail -n 1)
kind=$(command -v kind || true)
if [ -z "$kind" ]; then
  kind="$bin/kind"
  if [ ! -x "$kind" ]; then
    echo "building kind $KIND_VERSION" >&2
    GOBIN="$bin" CGO_ENABLED=0 go install "sigs.k8s.io/kind@$KIND_VERSION"
  fi
fi
helm="$bin/helm"
kubectl="$bin/kubectl"

workdir=$(mktemp -d)
kubeconfig="$workdir/kubeconfig"
cleanup() {
  if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
    echo "kept kind cluster $cluster; KUBECONFIG=$kubeconfig" >&2
  else
    "$kind" delete cluster --name "$cluster" >/dev/null 2>&1 || true
    rm -rf "$workdir"
  fi
}
trap cleanup EXIT

docker build --tag "$image" "$root"
# KIND_NODE_IMAGE picks the Kubernetes version (kindest/node:vX.Y.Z); kind's default otherwise.
"$kind" create cluster --name "$cluster" --kubeconfig "$kubeconfig" \
  ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 120s
"$kind" load docker-image "$image" --name "$cluster"

export KUBECONFIG="$kubeconfig"
"$kubectl" create namespace "$namespace"
"$kubectl" label namespace "$namespace" pod-security.kubernetes.io/enforce=restricted
# The token Alertmanager presents; the tests read it from the environment.
INCIDENT_OPERATOR_E2E_ALERTMANAGER_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export INCIDENT_OPERATOR_E2E_ALERTMANAGER_TOKEN
"$kubectl" -n "$namespace" create secret generic "$release-alertmanager" \
  --from-literal=token="$INCIDENT_OPERATOR_E2E_ALERTMANAGER_TOKEN"
"$helm" install "$release" "$root/charts/incident-operator" --namespace "$namespace" \
  --set image.repository=incident-operator --set image.tag=e2e --set image.pullPolicy=Never \
  --wait --timeout 5m
# Both replicas are ready (the standby as a standby): the rollout finishes. Then wait for
# the leader to label its pod, which the Alertmanager Service selects.
"$kubectl" -n "$namespace" rollout status deployment/"$release" --timeout=180s
for _ in $(seq 180); do
  [ -n "$("$kubectl" -n "$namespace" get pods -o name \
    -l incident-operator.sre.agentos.io/leader=true)" ] && break
  sleep 1
done
"$kubectl" -n "$namespace" wait pod -l incident-operator.sre.agentos.io/leader=true \
  --for=condition=Ready --timeout=60s

INCIDENT_OPERATOR_TEST_KUBECONFIG="$kubeconfig" INCIDENT_OPERATOR_E2E_INSTALLED=1 \
  "$root/.venv/bin/python" -m pytest "$root/tests/e2e" "$@"
