#!/bin/sh
# e2e check: the Windows build (windows/amd64) under Debian's Wine: version,
# validate samples/tokens.csv, and a run against the simulator on 127.0.0.1
# that writes its result, --summary and --metrics (the directory sync that
# fails on Windows), then --resume of the same result.
#
# Debian 12's Wine 8.0 lacks bcryptprimitives.dll, without which no Go 1.24+
# program starts; scripts/wine/bcryptprimitives.c provides its one function
# (compiled with mingw-w64) when the installed Wine has none. The Wine prefix
# lives in out/e2e/wine-prefix and is kept between runs (creating it takes
# ~30 s).
set -eu
cd "$(dirname "$0")/.."
. scripts/need.sh
need wine wine
need x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64-win32
out=out/e2e/wine
rm -rf "$out"
mkdir -p "$out"
fail() { printf "e2e-wine: %s\n" "$*" >&2; exit 1; }
WINEPREFIX=$PWD/out/e2e/wine-prefix
WINEDEBUG=-all
export WINEPREFIX WINEDEBUG

exe=$out/tokenreg.exe
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 ${GO:-go} build -ldflags "-X main.version=$VERSION" -o "$exe" ./cmd/tokenreg
if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
	echo "== wineboot (a new Wine prefix in $WINEPREFIX)"
	wineboot -i >"$out/wineboot.log" 2>&1 || fail "wineboot failed: $(tail -5 "$out/wineboot.log")"
	wineserver -w || true
fi
if ! ls /usr/lib/*/wine/*-windows/bcryptprimitives.dll >/dev/null 2>&1; then
	x86_64-w64-mingw32-gcc -shared -O2 -o "$out/bcryptprimitives.dll" scripts/wine/bcryptprimitives.c -ladvapi32
	cp "$out/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
	echo "wine $(wine --version 2>/dev/null) has no bcryptprimitives.dll: using scripts/wine/bcryptprimitives.c"
fi
# winpath FILE: the Windows name of a file of this machine (Wine's Z: drive).
winpath() { printf 'Z:%s' "$(realpath -m "$1")" | tr / '\\'; }

v=$(wine "$exe" version 2>"$out/version.err" | tr -d '\r') || fail "version failed: $(cat "$out/version.err")"
echo "tokenreg.exe version: $v"
[ "$v" = "tokenreg $VERSION" ] || fail "version printed '$v', want 'tokenreg $VERSION'"

rc=0
wine "$exe" validate "$(winpath samples/tokens.csv)" >"$out/validate.csv" 2>"$out/validate.log" || rc=$?
counts=$(tr -d '\r' <"$out/validate.csv" | tail -n +2 | cut -d, -f5 | sort | uniq -c | tr -s ' ' | tr '\n' ';')
echo "validate: exit $rc, statuses $counts"
[ $rc = 1 ] && [ "$counts" = " 2 invalid; 1 skipped; 37 valid;" ] || fail "validate: exit $rc, statuses $counts; log: $(cat "$out/validate.log")"

export CENTAGATE_ADMIN=admin CENTAGATE_AUTH_TOKEN=demo-auth-token CENTAGATE_SECRET_CODE=demo-secret-code
sim=
trap '[ -z "$sim" ] || { kill $sim 2>/dev/null; wait $sim 2>/dev/null; } || true' EXIT INT TERM
start_sim "$out"
CENTAGATE_URL=$(cat "$out/addr")
export CENTAGATE_URL

rc=0
wine "$exe" run "$(winpath samples/tokens.csv)" --out "$(winpath "$out/tokens.result.csv")" --rate 0 --progress never \
	--summary "$(winpath "$out/summary.json")" --metrics "$(winpath "$out/tokenreg.prom")" >"$out/run.log" 2>&1 || rc=$?
ok=$(awk -F, '$5 == "ok"' "$out/tokens.result.csv" | wc -l)
echo "run: exit $rc, $ok rows ok"
[ $rc = 1 ] && [ "$ok" = 21 ] || fail "run: exit $rc, $ok rows ok, want 1 and 21; log: $(cat "$out/run.log")"
if grep -q 'level=ERROR' "$out/run.log"; then fail "run logged errors: $(grep 'level=ERROR' "$out/run.log")"; fi
grep -q '"exit_code": 1' "$out/summary.json" || fail "no --summary with exit_code 1: $(cat "$out/summary.json" 2>&1)"
grep -q '^tokenreg_rows{job="tokenreg",status="ok"} 21' "$out/tokenreg.prom" || fail "no --metrics with 21 ok rows"

# --resume of a finished result sends nothing again.
rc=0
wine "$exe" run "$(winpath samples/tokens.csv)" --out "$(winpath "$out/tokens.result.csv")" --resume --rate 0 \
	--progress never >"$out/resume.log" 2>&1 || rc=$?
rows=$(tail -n +2 "$out/tokens.result.csv" | wc -l)
echo "resume: exit $rc, $rows result rows"
[ $rc = 1 ] && [ "$rows" = 40 ] || fail "resume: exit $rc, $rows rows, want 1 and 40; log: $(cat "$out/resume.log")"
kill $sim
wait $sim 2>/dev/null || true
trap - EXIT INT TERM
grep -q 'registrations  21 tokens, 0 registered twice' "$out/sim.log" || fail "the simulator says: $(grep registrations "$out/sim.log")"
echo "e2e-wine: ok"
