#!/usr/bin/env bash
# Builds the local control plane's binaries once, into a cache outside the repo:
#   ${INCIDENT_OPERATOR_CACHE:-~/.cache/incident-operator}/<KUBERNETES_VERSION>/bin
# Everything comes from the Go module proxy; a binary already present is not rebuilt.
# Prints the bin directory on its last line (stdout); progress goes to stderr.
# Arguments name the groups to build (kubernetes, kwok, kube-state-metrics, helm); none
# means all. The chart tests ask for `helm` alone, so they need not wait for Kubernetes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"
cache=${INCIDENT_OPERATOR_CACHE:-$HOME/.cache/incident-operator}
bin="$cache/$KUBERNETES_VERSION/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

# One build at a time: a second caller (make setup-binaries while the test harness
# runs, say) waits for the first instead of racing it on the same output files.
exec 9>"$bin/.lock"
if ! flock -n 9; then
  echo "another build-binaries.sh is running; waiting for it" >&2
  flock 9
fi

# Each group has its own stamp holding the versions it was built from, written only
# after that group built, so a run that fails half-way (or a change to one version)
# rebuilds only what is missing or stale; Go's build cache makes a relink cheap.
# need GROUP STAMP_CONTENT BINARIES...: true when the group must be (re)built.
need() {
  local group=$1 want=$2
  shift 2
  wanted "$group" || return 1
  [ "$(cat "$bin/.stamp-$group" 2>/dev/null)" = "$want" ] || return 0
  for b in "$@"; do [ -x "$bin/$b" ] || return 0; done
  return 1
}
stamp() { printf '%s\n' "$2" >"$bin/.stamp-$1"; }
groups=("$@")
wanted() {
  [ ${#groups[@]} -eq 0 ] && return 0
  local g
  for g in "${groups[@]}"; do [ "$g" = "$1" ] && return 0; done
  return 1
}

k8s_want="$KUBERNETES_VERSION etcd=$ETCD_VERSION"
if need kubernetes "$k8s_want" etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; then
  echo "building Kubernetes $KUBERNETES_VERSION and etcd $ETCD_VERSION (first run only, ~20-30 min on 2 cores)" >&2
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2) -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$here/controlplane" && \
    go build -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl && \
    go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
  stamp kubernetes "$k8s_want"
fi
if need kwok "$KWOK_VERSION" kwok; then
  echo "building kwok $KWOK_VERSION" >&2
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  stamp kwok "$KWOK_VERSION"
fi
if need kube-state-metrics "$KUBE_STATE_METRICS_VERSION" kube-state-metrics; then
  echo "building kube-state-metrics $KUBE_STATE_METRICS_VERSION" >&2
  # From the wrapper module hack/kube-state-metrics (see gen-kube-state-metrics-gomod.sh
  # for why not `go install ...@version`); it must pin the version versions.env names.
  if ! grep -qE "^require k8s.io/kube-state-metrics/v2 ${KUBE_STATE_METRICS_VERSION}\$" \
      "$here/kube-state-metrics/go.mod"; then
    echo "hack/kube-state-metrics/go.mod does not pin $KUBE_STATE_METRICS_VERSION; run hack/gen-kube-state-metrics-gomod.sh" >&2
    exit 1
  fi
  (cd "$here/kube-state-metrics" && \
    go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${KUBE_STATE_METRICS_VERSION#v}" \
      -o "$bin/kube-state-metrics" k8s.io/kube-state-metrics/v2)
  stamp kube-state-metrics "$KUBE_STATE_METRICS_VERSION"
fi
helm_want="$HELM_VERSION k8s=$KUBERNETES_VERSION"
if need helm "$helm_want" helm; then
  echo "building helm $HELM_VERSION (~2 min on 2 cores)" >&2
  # helm's own Makefile sets these: its version, and the Kubernetes version that
  # `helm template` and `helm lint` assume without a cluster (.Capabilities.KubeVersion,
  # deprecation checks). We give the version the local control plane runs.
  k8s_minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  GOBIN="$bin" go install -trimpath -ldflags "$helm_ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  stamp helm "$helm_want"
fi
rm -f "$bin/.versions"  # the single stamp of earlier versions of this script
echo "$bin"
