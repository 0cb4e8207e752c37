#!/usr/bin/env bash
# Regenerates hack/controlplane/go.mod and go.sum for a new KUBERNETES_VERSION.
# k8s.io/kubernetes replaces its k8s.io/* staging modules with local paths, which
# `go install` refuses; a wrapper module that replaces each of them with the
# published v0.X.Y tag builds the same binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"
staging_version="v0.${KUBERNETES_VERSION#v1.}"
cd "$here/controlplane"
rm -f go.mod go.sum
go mod init incident-operator/hack/controlplane >/dev/null
upstream_gomod=$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$upstream_gomod" | awk '{print $1}' | sort -u | while read -r module; do
  go mod edit -replace="${module}=${module}@${staging_version}"
done
go mod edit -require="k8s.io/kubernetes@${KUBERNETES_VERSION}" -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
go mod edit -go=1.26.0
go mod tidy
