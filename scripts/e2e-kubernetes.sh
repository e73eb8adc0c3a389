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
mkdir -p out/e2e/kubernetes
log=$PWD/out/e2e/kubernetes/go-test.log
cd samples/kubernetes/check
status=0
${GO:-go} test -count=1 -v -bin ../../../bin . >"$log" 2>&1 || status=$?
grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go:[0-9]+: [^c]' "$log" || true
[ $status = 0 ] || { echo "e2e-kubernetes: failed; the pods' output is in $log" >&2; exit 1; }
