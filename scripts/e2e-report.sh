#!/bin/sh
# e2e check "report" (issue 13): the HTML report in a real browser.
#
# Renders with Debian's headless chromium the report of the sample run (the
# one `make demo` makes) and of a large generated run (E2E_REPORT_ROWS rows,
# default 100000, with injected faults), and asserts for each page:
#   - it loaded with no request leaving the file: the page carries a strict
#     Content-Security-Policy, Chromium's network log (--log-net-log) shows no
#     http(s) request, and its console shows no CSP violation (the inline
#     style sheet's hash matched);
#   - the numbers on the page (data-figure/data-value, data-code/data-count in
#     the DOM Chromium built) equal those of the run's --summary JSON.
# A control page that fetches an image from 127.0.0.1 proves the network
# check can see a request, and the same page under the report's CSP proves
# the policy blocks it.
#
# Output in out/e2e/report/: sample.png and large.png (screenshots,
# 1280x2400: the CI artefacts), the pages, DOMs, logs and summaries.
# E2E_REPORT_DOCS=1 also copies sample.png to docs/report.png (the README's).
#
# Run from the repository root with bin/ built: sh scripts/e2e-report.sh
set -eu
cd "$(dirname "$0")/.."
out=out/e2e/report
rm -rf "$out"
mkdir -p "$out"
rows=${E2E_REPORT_ROWS:-100000}

if [ -f scripts/need.sh ]; then
	. scripts/need.sh
	need chromium chromium
	need jq jq
else
	for pair in chromium:chromium jq:jq; do
		command -v "${pair%%:*}" >/dev/null 2>&1 && continue
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pair#*:}"
	done
fi
for b in bin/tokenreg bin/centagate-sim; do
	[ -x "$b" ] || { echo "e2e-report: $b missing: run make build first" >&2; exit 1; }
done

fail() { echo "e2e-report: FAIL: $*" >&2; exit 1; }

export CENTAGATE_ADMIN=admin CENTAGATE_AUTH_TOKEN=demo-auth-token CENTAGATE_SECRET_CODE=demo-secret-code
sim=
profiles=
cleanup() {
	[ -z "$sim" ] || { kill "$sim" 2>/dev/null; wait "$sim" 2>/dev/null || true; }
	# shellcheck disable=SC2086
	[ -z "$profiles" ] || rm -rf $profiles
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_sim STATE [FLAGS...]: the simulator on a free loopback port.
start_sim() {
	state=$1
	shift
	rm -f "$out/addr"
	bin/centagate-sim -state "$state" -addr-file "$out/addr" "$@" >>"$out/sim.log" 2>&1 &
	sim=$!
	i=0
	while [ ! -s "$out/addr" ]; do
		i=$((i + 1))
		[ $i -le 100 ] && kill -0 "$sim" 2>/dev/null || { cat "$out/sim.log" >&2; fail "the simulator did not start"; }
		sleep 0.1
	done
	CENTAGATE_URL=$(cat "$out/addr")
	export CENTAGATE_URL
}
stop_sim() { kill "$sim" 2>/dev/null; wait "$sim" 2>/dev/null || true; sim=; }

# chrome ARGS...: headless Chromium with a fresh profile and nothing of its
# own on the network.
chrome() {
	profile=$(mktemp -d)
	profiles="$profiles $profile"
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-default-apps --disable-extensions --no-default-browser-check \
		--user-data-dir="$profile" "$@"
}

# render NAME PAGE: the DOM, console and network log, then the screenshot.
render() {
	name=$1
	url="file://$(pwd)/$2"
	chrome --enable-logging=stderr --v=1 --log-net-log="$out/$name.netlog.json" --net-log-capture-mode=Everything \
		--virtual-time-budget=5000 --dump-dom "$url" >"$out/$name.dom.html" 2>"$out/$name.chrome.log" ||
		fail "$name: chromium --dump-dom failed (see $out/$name.chrome.log)"
	chrome --screenshot="$out/$name.png" --window-size=1280,2400 --hide-scrollbars "$url" >/dev/null 2>>"$out/$name.chrome.log" ||
		fail "$name: chromium --screenshot failed (see $out/$name.chrome.log)"
	[ -s "$out/$name.png" ] || fail "$name: no screenshot"
}

# requests NAME: the URLs the page asked Chromium's network stack for. The
# page's requests carry its site (file://) in their network isolation key;
# Chromium's own background requests (component updates, time, accounts:
# they go nowhere on this machine) carry none and are left out.
requests() {
	jq -r '.events[]? | .params? // {} | select((.network_isolation_key? // "") | test("file://")) | .url // empty' \
		"$out/$1.netlog.json" | grep -Ev '^(file|data|about|chrome):' | sort -u || true
}

# check_page NAME SUMMARY: the assertions above for one rendered page.
check_page() {
	name=$1
	summary=$2
	dom="$out/$name.dom.html"
	grep -q "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'sha256-" "$dom" ||
		fail "$name: the page has no strict Content-Security-Policy"
	grep -qi '<script' "$dom" && fail "$name: the page has a script element"
	[ -z "$(requests "$name")" ] || fail "$name: requests left the page: $(requests "$name")"
	grep -i 'Content Security Policy\|Refused to' "$out/$name.chrome.log" && fail "$name: CSP violation in the console"
	grep -q 'class="fig st-ok"' "$dom" || fail "$name: the headline figures are missing from the DOM"

	# Every figure the summary has must be on the page with the same value.
	grep -o 'data-figure="[^"]*" data-value="[^"]*"' "$dom" | sed 's/data-figure="\([^"]*\)" data-value="\([^"]*\)"/\1 \2/' >"$out/$name.figures"
	checked=0
	for pair in rows:.rows sent:.sent ok:.by_status.ok failed:.by_status.failed error:.by_status.error \
		invalid:.by_status.invalid skipped:.by_status.skipped elapsed_seconds:.elapsed_seconds \
		rate_per_second:.rate_per_second input_sha256:.input_sha256; do
		fig=${pair%%:*}
		want=$(jq -r "${pair#*:}" "$summary")
		got=$(awk -v k="$fig" '$1 == k { print $2; exit }' "$out/$name.figures")
		[ "$got" = "$want" ] || fail "$name: $fig on the page is '$got', the summary says '$want'"
		checked=$((checked + 1))
	done
	# And every code's count, both ways.
	grep -o 'data-code="[^"]*" data-count="[0-9]*"' "$dom" | sed 's/data-code="\([^"]*\)" data-count="\([0-9]*\)"/\1 \2/' | sort >"$out/$name.codes.page"
	jq -r '.by_code[] | "\(.code) \(.count)"' "$summary" | sort >"$out/$name.codes.summary"
	cmp -s "$out/$name.codes.page" "$out/$name.codes.summary" ||
		fail "$name: codes on the page differ from the summary: $(diff "$out/$name.codes.page" "$out/$name.codes.summary" | tr '\n' ' ')"
	echo "e2e-report: $name: $checked figures and $(wc -l <"$out/$name.codes.summary") codes equal the summary's; no request left the page; $out/$name.png"
}

# 1. The control: the network check sees a request to 127.0.0.1, and the
# report's CSP blocks the same request.
printf '<!DOCTYPE html><title>control</title><img src="http://127.0.0.1:9/e2e-report-probe.png">\n' >"$out/control-open.html"
render control-open "$out/control-open.html"
requests control-open | grep -q 'e2e-report-probe' || fail "control: Chromium's network log did not show the page's request: the network check would see nothing"

# 2. The sample run, as make demo runs it, with its summary and report.
start_sim samples/sim-state.json
status=0
bin/tokenreg run samples/tokens.csv --out "$out/sample.result.csv" --force --rate 50 --workers 4 \
	--summary "$out/sample.summary.json" --html "$out/sample.run.html" --progress never 2>"$out/sample.run.log" || status=$?
stop_sim
[ "$status" -le 1 ] || { cat "$out/sample.run.log" >&2; fail "sample run exited $status"; }
# (its summary is found beside it: sample.summary.json names the result)
bin/tokenreg report "$out/sample.result.csv" --html "$out/sample.html" --title "tokenreg report: samples/tokens.csv" 2>>"$out/sample.run.log" ||
	fail "tokenreg report of the sample run failed"

# The control under the report's CSP: blocked, and the console says so.
policy=$(grep -o 'content="default-src[^"]*"' "$out/sample.html" | sed 's/^content="//; s/"$//; s/&#39;/'"'"'/g; s/&#43;/+/g')
printf '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="%s"><title>control</title><img src="http://127.0.0.1:9/e2e-report-probe.png">\n' "$policy" >"$out/control-csp.html"
render control-csp "$out/control-csp.html"
[ -z "$(requests control-csp)" ] || fail "control: the report's CSP did not block a request: $(requests control-csp)"
grep -q 'violates the following Content Security Policy' "$out/control-csp.chrome.log" ||
	fail "control: Chromium's console did not report the blocked request: the CSP console check would see nothing"

render sample "$out/sample.html"
check_page sample "$out/sample.summary.json"
render sample-run "$out/sample.run.html"
check_page sample-run "$out/sample.summary.json"

# 3. A large generated run: users that exist and one that does not, numbers
# in use, invalid and duplicate rows, 1% of answers 503 or reset (so some rows
# take two attempts and a few end in error).
awk -v n="$rows" 'BEGIN {
	printf "{\"users\": ["
	for (i = 0; i < n; i++) { if (i % 500 != 7) printf "%s\"u%07d\"", (i ? "," : ""), i }
	printf "], \"phonesInUse\": ["
	k = 0
	for (i = 0; i < n; i++) { if (i % 300 == 11) printf "%s\"+6019%07d\"", (k++ ? "," : ""), i }
	printf "]}\n"
}' >"$out/large.state.json"
awk -v n="$rows" 'BEGIN {
	print "username,tokenSn,tokenType"
	for (i = 0; i < n; i++) {
		if (i % 1000 == 13) printf "u%07d,12,SMS\n", i
		else if (i % 2000 == 17) printf "u%07d,+6019%07d,SMS\n", i, i - 1
		else printf "u%07d,+6019%07d,SMS\n", i, i
	}
}' >"$out/large.csv"
start_sim "$out/large.state.json" -faults 503,reset -fault-rate 0.01 -seed 13
status=0
bin/tokenreg run "$out/large.csv" --out "$out/large.result.csv" --force --rate 0 --workers 32 --attempts 2 \
	--summary "$out/large.summary.json" --progress never 2>"$out/large.run.log" || status=$?
stop_sim
[ "$status" -le 1 ] || { tail -20 "$out/large.run.log" >&2; fail "large run exited $status"; }
[ "$(jq -r .rows "$out/large.summary.json")" = "$rows" ] || fail "large run: the summary does not count $rows rows"
t0=$(date +%s%N)
bin/tokenreg report "$out/large.result.csv" --summary "$out/large.summary.json" --html "$out/large.html" 2>>"$out/large.run.log" ||
	fail "tokenreg report of the large run failed"
echo "e2e-report: tokenreg report of $rows rows took $((($(date +%s%N) - t0) / 1000000)) ms"
render large "$out/large.html"
check_page large "$out/large.summary.json"

if [ "${E2E_REPORT_DOCS:-}" = 1 ]; then
	mkdir -p docs
	cp "$out/sample.png" docs/report.png
	echo "e2e-report: docs/report.png updated"
fi
echo "e2e-report: ok"
