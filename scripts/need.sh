# Sourced by the scripts that need Debian packages (make image, make e2e),
# and by the e2e scripts that run tokenreg against the simulator (start_sim).
# need COMMAND PACKAGE: install PACKAGE with apt-get if COMMAND is missing.
# The package lists are refreshed once per process, only when something is
# missing; dpkg's lock is waited for (another apt-get may be running).

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "need: $1 is missing: install the Debian package $2 (apt-get install -y $2) as root" >&2
		return 1
	fi
	if [ -z "${NEED_UPDATED:-}" ]; then
		echo "== apt-get update" >&2
		apt-get update -qq >&2
		NEED_UPDATED=1
	fi
	echo "== apt-get install $2 (for $1)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "$2" >&2
	command -v "$1" >/dev/null 2>&1 || { echo "need: $2 did not install $1" >&2; return 1; }
}

# start_sim DIR: start bin/centagate-sim on samples/sim-state.json in the
# background (its PID in $sim, its log in DIR/sim.log) and wait up to 10 s
# for it to write its URL to DIR/addr. Calls the script's fail if it does
# not start.
start_sim() {
	bin/centagate-sim -state samples/sim-state.json -addr-file "$1/addr" >"$1/sim.log" 2>&1 &
	sim=$!
	_i=0
	while [ ! -s "$1/addr" ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] && kill -0 $sim 2>/dev/null || fail "the simulator did not start: $(cat "$1/sim.log")"
		sleep 0.1
	done
}
