#!/bin/sh
# e2e check: --pushgateway against a real Pushgateway (Debian's
# prometheus-pushgateway) on 127.0.0.1, scraped through its /metrics:
#   1. a finished run (samples/tokens.csv, exit 1) pushes its rows, exit code
#      and last success;
#   2. a run the circuit breaker stops (wrong secret, exit 3) replaces the
#      rows and the exit code but leaves the last success as it was (POST);
#   3. a shard pushes to its own group (shard="1/2"), leaving the others.
set -eu
cd "$(dirname "$0")/.."
. scripts/need.sh
need prometheus-pushgateway prometheus-pushgateway
need curl curl
out=out/e2e/pushgateway
rm -rf "$out"
mkdir -p "$out"
fail() { echo "e2e-pushgateway: $*" >&2; exit 1; }

pgw= sim=
cleanup() {
	for p in $pgw $sim; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# A free port: ask the kernel through the simulator's trick is not
# available here, so try a few in the dynamic range.
for try in 1 2 3 4 5 6 7 8; do
	port=$((20000 + ($$ * 7 + try * 977) % 30000))
	prometheus-pushgateway --web.listen-address="127.0.0.1:$port" \
		--persistence.file="$PWD/$out/pushgateway.data" >"$out/pushgateway.log" 2>&1 &
	pgw=$!
	i=0
	while [ $i -lt 50 ] && kill -0 $pgw 2>/dev/null; do
		curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
		i=$((i + 1))
		sleep 0.1
	done
	curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
	kill $pgw 2>/dev/null || true
	wait $pgw 2>/dev/null || true
	pgw=
done
[ -n "$pgw" ] || fail "the Pushgateway did not start: $(cat "$out/pushgateway.log")"
gw=http://127.0.0.1:$port
echo "pushgateway: $gw ($(prometheus-pushgateway --version 2>&1 | head -1))"

export CENTAGATE_ADMIN=admin CENTAGATE_AUTH_TOKEN=demo-auth-token CENTAGATE_SECRET_CODE=demo-secret-code
start_sim "$out"
CENTAGATE_URL=$(cat "$out/addr")
export CENTAGATE_URL

# value FILE NAME LABELS: the sample of NAME whose labels are exactly LABELS
# (as the Pushgateway prints them, sorted), e.g. value f tokenreg_exit_code 'instance="",job="tokenreg"'.
value() { awk -v want="$2{$3}" '$1 == want { print $2 }' "$1"; }
scrape() { curl -fsS "$gw/metrics" >"$out/$1.metrics" || fail "scrape $gw/metrics failed"; }
G='instance="",job="tokenreg"'

# 1. A finished run.
rc=0
bin/tokenreg run samples/tokens.csv --out "$out/run1.csv" --rate 0 --progress never --pushgateway "$gw" 2>"$out/run1.log" || rc=$?
[ $rc = 1 ] || fail "run 1 exited $rc, want 1: $(cat "$out/run1.log")"
scrape 1
ok=$(value "$out/1.metrics" tokenreg_rows "$G,status=\"ok\"")
failed=$(value "$out/1.metrics" tokenreg_rows "$G,status=\"failed\"")
code=$(value "$out/1.metrics" tokenreg_exit_code "$G")
success1=$(value "$out/1.metrics" tokenreg_last_success_timestamp_seconds "$G")
run1=$(value "$out/1.metrics" tokenreg_last_run_timestamp_seconds "$G")
c29004=$(value "$out/1.metrics" tokenreg_rows_by_code "code=\"29004\",$G")
echo "run 1: ok=$ok failed=$failed code29004=$c29004 exit_code=$code last_success=$success1 last_run=$run1"
[ "$ok" = 21 ] && [ "$failed" = 16 ] && [ "$code" = 1 ] && [ "$c29004" = 2 ] ||
	fail "after run 1: ok=$ok failed=$failed code29004=$c29004 exit_code=$code, want 21, 16, 2, 1"
[ -n "$success1" ] && [ "$success1" = "$run1" ] || fail "after run 1: last success '$success1', last run '$run1': want both, equal"
awk '$1 ~ /^push_time_seconds/ { found = 1 } END { exit !found }' "$out/1.metrics" || fail "the Pushgateway recorded no push_time_seconds"

# 2. A run the breaker stops: wrong secret, every answer 10002.
sleep 1 # so that the second run's timestamps differ from the first's
rc=0
CENTAGATE_SECRET_CODE=wrong bin/tokenreg run samples/tokens.csv --out "$out/run2.csv" --rate 0 --workers 1 \
	--progress never --pushgateway "$gw" 2>"$out/run2.log" || rc=$?
[ $rc = 3 ] || fail "run 2 exited $rc, want 3 (circuit breaker): $(cat "$out/run2.log")"
scrape 2
ok=$(value "$out/2.metrics" tokenreg_rows "$G,status=\"ok\"")
code=$(value "$out/2.metrics" tokenreg_exit_code "$G")
success2=$(value "$out/2.metrics" tokenreg_last_success_timestamp_seconds "$G")
run2=$(value "$out/2.metrics" tokenreg_last_run_timestamp_seconds "$G")
c29004=$(value "$out/2.metrics" tokenreg_rows_by_code "code=\"29004\",$G")
c10002=$(value "$out/2.metrics" tokenreg_rows_by_code "code=\"10002\",$G")
echo "run 2: ok=$ok code10002=$c10002 code29004='$c29004' exit_code=$code last_success=$success2 last_run=$run2"
[ "$ok" = 0 ] && [ "$code" = 3 ] && [ "${c10002:-0}" -ge 20 ] && [ -z "$c29004" ] ||
	fail "after run 2: ok=$ok exit_code=$code code10002=$c10002 code29004='$c29004', want 0, 3, at least 20 (the breaker stops after 20 answers) and no 29004 left from run 1"
[ "$success2" = "$success1" ] || fail "run 2 (exit 3) changed the last success from $success1 to $success2"
awk -v a="$run2" -v b="$run1" 'BEGIN { exit !(a > b) }' || fail "run 2 did not move the last run ($run1 -> $run2)"

# 3. Shard 1 of 2 has its own group; the job's group is left as it was.
rc=0
bin/tokenreg run samples/tokens.csv --shard 1/2 --out "$out/run3.csv" --rate 0 --progress never \
	--pushgateway "$gw" 2>"$out/run3.log" || rc=$?
[ $rc -le 1 ] || fail "run 3 exited $rc: $(cat "$out/run3.log")"
scrape 3
S='instance="",job="tokenreg",shard="1/2"'
# The simulator remembers run 1, so the shard's rows meet 29004, 29008, ...
failed3=$(awk -F, 'NR > 1 && $5 == "failed"' "$out/run3.csv" | wc -l)
skipped3=$(awk -F, 'NR > 1 && $5 == "skipped"' "$out/run3.csv" | wc -l)
failedp=$(value "$out/3.metrics" tokenreg_rows "$S,status=\"failed\"")
skippedp=$(value "$out/3.metrics" tokenreg_rows "$S,status=\"skipped\"")
code=$(value "$out/3.metrics" tokenreg_exit_code "$G")
echo "run 3 (shard 1/2): pushed failed=$failedp skipped=$skippedp (result file: $failed3, $skipped3); job group exit_code still $code"
[ "$failed3" -gt 0 ] && [ "$failedp" = "$failed3" ] && [ "$skippedp" = "$skipped3" ] ||
	fail "shard 1/2 pushed failed=$failedp skipped=$skippedp, its result has $failed3, $skipped3"
[ "$code" = 3 ] || fail "the shard's push changed the job group's exit code to $code"
echo "e2e-pushgateway: ok"
