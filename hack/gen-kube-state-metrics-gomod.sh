#!/usr/bin/env bash
# Regenerates hack/kube-state-metrics/go.mod and go.sum for a new KUBE_STATE_METRICS_VERSION.
# kube-state-metrics is built from this wrapper module rather than with
# `go install k8s.io/kube-state-metrics/v2@VERSION`, because `go install pkg@version`
# also reads the module's version list (for deprecation notices), which the module
# proxy this project reaches refuses for kube-state-metrics (403).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"
cd "$here/kube-state-metrics"
rm -f go.mod go.sum
go mod init incident-operator/hack/kube-state-metrics >/dev/null
go mod edit -require="k8s.io/kube-state-metrics/v2@${KUBE_STATE_METRICS_VERSION}"
go mod edit -go=1.26.0
go mod tidy
