#!/bin/sh
# e2e check: the Kubernetes samples (samples/kubernetes/*.yaml) decode
# strictly into k8s.io/api types and their pods run as Kubernetes would run
# them, against the simulator on 127.0.0.1 (samples/kubernetes/check, its own
# Go module so that k8s.io/api stays out of tokenreg's). Needs bin/ (make
# build) and curl (the CronJob's init container).
set -eu
cd "$(dirname "$0")/.."
. scripts/need.sh
need curl curl
cd samples/kubernetes/check
${GO:-go} test -count=1 -v -bin ../../../bin . 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go:[0-9]+: [^c]' || true
${GO:-go} test -count=1 -bin ../../../bin . >/dev/null 2>&1 || {
	echo "e2e-kubernetes: failed; the pods' output: cd samples/kubernetes/check && go test -v -bin ../../../bin ." >&2
	exit 1
}
