#!/bin/sh
# make e2e: the end-to-end checks that need Debian packages (buildah,
# prometheus-pushgateway, promtool, wine, chromium). It builds bin/, installs
# what is missing with apt-get, then runs every scripts/e2e-*.sh in turn.
#
# The contract for a check, scripts/e2e-NAME.sh:
#   - run as `sh scripts/e2e-NAME.sh` from the repository root, with bin/tokenreg
#     and bin/centagate-sim built and GO set;
#   - install what it needs with `. scripts/need.sh; need COMMAND PACKAGE`;
#   - write only under out/e2e/NAME/, talk only to 127.0.0.1, stop whatever it starts;
#   - exit 0 when every assertion held, non-zero (with the reason on stderr) otherwise.
# E2E_ONLY=NAME[,NAME] runs only those checks.
set -eu
cd "$(dirname "$0")/.."
. scripts/need.sh
GO=${GO:-go}
export GO

# One apt-get for everything missing, rather than one per check.
missing=
for pair in buildah:buildah prometheus-pushgateway:prometheus-pushgateway promtool:prometheus \
	wine:wine x86_64-w64-mingw32-gcc:gcc-mingw-w64-x86-64-win32 curl:curl; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "== apt-get install$missing"
		apt-get update -qq
		NEED_UPDATED=1
		export NEED_UPDATED
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends $missing
	else
		echo "e2e: missing packages:$missing (run as root to install them)" >&2
	fi
fi

echo "== make build"
make -s build GO="$GO"

passed=0 failed=0 failures=
for check in scripts/e2e-*.sh; do
	name=${check#scripts/e2e-}
	name=${name%.sh}
	if [ -n "${E2E_ONLY:-}" ]; then
		case ",$E2E_ONLY," in *",$name,"*) ;; *) continue ;; esac
	fi
	echo
	echo "== e2e $name"
	t0=$(date +%s)
	if sh "$check"; then
		passed=$((passed + 1))
		echo "== e2e $name: ok ($(($(date +%s) - t0))s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "== e2e $name: FAILED ($(($(date +%s) - t0))s)"
	fi
done
echo
[ -z "$failures" ] || echo "e2e failed:$failures"
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
