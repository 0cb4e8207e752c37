#!/usr/bin/env bash
# Installs the Debian packages the tests need, only when they are missing, and
# checks the Go toolchain (Debian's golang-go is too old for Kubernetes 1.37).
set -euo pipefail
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
# promtool (in the same package) checks and unit-tests the operator's alert rules.
command -v promtool >/dev/null || missing+=(prometheus)
# A real Alertmanager, for the tests that take its webhooks (grouping across sources).
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
# The browser tests of the status page and the dashboard drive Debian's Chromium.
command -v chromium >/dev/null || missing+=(chromium)
# The test harness makes its certificates with openssl.
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null; then
  echo "error: Go 1.26 or newer is required to build the control plane (hack/build-binaries.sh)" >&2
  exit 1
fi
