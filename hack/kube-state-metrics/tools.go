//go:build tools

// Package tools pins kube-state-metrics, which hack/build-binaries.sh builds.
package tools

import (
	_ "k8s.io/kube-state-metrics/v2"
)
