#!/bin/sh
# e2e check: make image, then run the image's tokenreg with buildah (no
# daemon) and assert what an operator relies on: `version` and `validate`
# work, a `run` against the simulator on 127.0.0.1 registers the sample, the
# image runs as user 65532 with tokenreg as its entrypoint, holds no shell,
# carries the CA bundle and its OCI labels, and stays under 25 MB.
set -eu
cd "$(dirname "$0")/.."
. scripts/need.sh
need buildah buildah
out=out/e2e/image
rm -rf "$out"
mkdir -p "$out"
fail() { echo "e2e-image: $*" >&2; exit 1; }

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
export VERSION
sh scripts/image.sh
B="buildah --storage-driver ${BUILDAH_STORAGE:-vfs}"
archive=out/tokenreg-$VERSION.oci.tar
ctr=$($B from --quiet --name "tokenreg-e2e-$$" "oci-archive:$archive")
sim=
cleanup() {
	[ -z "$sim" ] || { kill "$sim" 2>/dev/null; wait "$sim" 2>/dev/null || true; }
	$B umount "$ctr" >/dev/null 2>&1 || true
	$B rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM
# buildah run ignores ENTRYPOINT, so the checks name the binary it points at;
# the entrypoint itself is asserted below from the image's config.
brun() { $B run --isolation chroot "$@"; }

# The image's configuration.
cfg=$($B inspect --type image --format '{{.OCIv1.Config.User}}|{{.OCIv1.Config.Entrypoint}}|{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}|{{index .OCIv1.Config.Labels "org.opencontainers.image.source"}}' "localhost/tokenreg:$VERSION")
echo "config: $cfg"
[ "$cfg" = "65532:65532|[/usr/local/bin/tokenreg]|$VERSION|https://github.com/tokenreg/tokenreg" ] ||
	fail "image config is $cfg, want user 65532:65532, entrypoint /usr/local/bin/tokenreg, labels version $VERSION and source"
# The files: exactly the binary, the CA bundle, passwd, group and /tmp
# (buildah adds the mount points proc, sys, dev, run and etc/hosts-style files).
root=$($B mount "$ctr")
files=$(cd "$root" && find . -type f | sort | tr '\n' ' ')
echo "files: $files"
[ "$files" = "./etc/group ./etc/passwd ./etc/ssl/certs/ca-certificates.crt ./usr/local/bin/tokenreg " ] ||
	case "$files" in
	*bin/sh* | *busybox*) fail "the image holds a shell: $files" ;;
	*) fail "unexpected files in the image: $files" ;;
	esac
grep -q '^nonroot:x:65532:65532:' "$root/etc/passwd" || fail "/etc/passwd has no line for 65532"
n=$(grep -c 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt")
[ "$n" -gt 50 ] || fail "the CA bundle holds $n certificates"
[ "$(stat -c %a "$root/tmp")" = 1777 ] || fail "/tmp is not mode 1777"
file "$root/usr/local/bin/tokenreg" 2>/dev/null | grep -q 'statically linked' ||
	! command -v file >/dev/null || fail "tokenreg in the image is not statically linked"
size=$(du -sb "$root" | cut -f1)
$B umount "$ctr" >/dev/null
archsize=$(wc -c <"$archive")
echo "size: $size bytes unpacked, $archsize bytes as an OCI archive, $n CA certificates"
[ "$size" -lt 25000000 ] || fail "the image is $size bytes unpacked, want < 25 MB"

# No shell: a command line that needs one cannot run.
if brun "$ctr" -- /bin/sh -c true >/dev/null 2>&1; then fail "/bin/sh ran in the image"; fi

# tokenreg version, as user 65532.
v=$(brun "$ctr" -- /usr/local/bin/tokenreg version)
echo "tokenreg version: $v"
[ "$v" = "tokenreg $VERSION" ] || fail "version printed '$v', want 'tokenreg $VERSION'"

# tokenreg validate samples/tokens.csv: 37 valid, 2 invalid, 1 skipped, exit 1.
rc=0
brun -v "$PWD/samples:/samples:ro" "$ctr" -- /usr/local/bin/tokenreg validate /samples/tokens.csv \
	>"$out/validate.csv" 2>"$out/validate.log" || rc=$?
tail -n +2 "$out/validate.csv" | cut -d, -f5 | sort | uniq -c | tr -s ' ' | tr '\n' ';' >"$out/validate.counts"
echo "validate: exit $rc, statuses $(cat "$out/validate.counts")"
[ "$rc" = 1 ] || fail "validate exited $rc, want 1 (two invalid rows); log: $(cat "$out/validate.log")"
[ "$(cat "$out/validate.counts")" = " 2 invalid; 1 skipped; 37 valid;" ] || fail "validate statuses $(cat "$out/validate.counts")"

# tokenreg run against the simulator on the host's loopback (chroot
# isolation shares the host's network), writing into a mounted directory.
export CENTAGATE_ADMIN=admin CENTAGATE_AUTH_TOKEN=demo-auth-token CENTAGATE_SECRET_CODE=demo-secret-code
start_sim "$out"
mkdir -p "$out/results" && chmod 0777 "$out/results"
rc=0
brun -v "$PWD/samples:/samples:ro" -v "$PWD/$out/results:/results" \
	-e CENTAGATE_URL="$(cat "$out/addr")" -e CENTAGATE_ADMIN=admin -e CENTAGATE_AUTH_TOKEN=demo-auth-token -e CENTAGATE_SECRET_CODE=demo-secret-code \
	"$ctr" -- /usr/local/bin/tokenreg run /samples/tokens.csv --out /results/tokens.result.csv \
	--rate 0 --summary /results/summary.json --progress never >"$out/run.log" 2>&1 || rc=$?
ok=$(awk -F, '$5 == "ok"' "$out/results/tokens.result.csv" | wc -l)
owner=$(stat -c %u "$out/results/tokens.result.csv")
echo "run: exit $rc, $ok rows ok, result owned by uid $owner"
[ "$rc" = 1 ] || fail "run exited $rc, want 1 (the sample has failing rows); log: $(cat "$out/run.log")"
[ "$ok" = 21 ] || fail "run registered $ok rows, want 21 (samples/tokens.expected.csv)"
[ "$owner" = 65532 ] || fail "the result file is owned by uid $owner, want 65532"
echo "e2e-image: ok"
