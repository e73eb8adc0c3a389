#!/bin/sh
# make image: build tokenreg's container image with buildah (no daemon, no
# registry, no pull: FROM scratch) and write it as an OCI archive:
#   out/tokenreg-$VERSION.oci.tar  (and out/tokenreg.oci.tar, a copy of the newest)
# The image is also left in buildah's local storage as localhost/tokenreg:$VERSION.
# Environment: VERSION (default: git describe), GO (default: go),
# BUILDAH_STORAGE (default: vfs, which works without kernel overlay support).
set -eu
cd "$(dirname "$0")/.."
. scripts/need.sh
GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
STORAGE=${BUILDAH_STORAGE:-vfs}
ctx=out/image
root=$ctx/rootfs

need buildah buildah
[ -s /etc/ssl/certs/ca-certificates.crt ] || need update-ca-certificates ca-certificates

rm -rf "$ctx"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
echo "== go build (static, CGO_ENABLED=0) tokenreg $VERSION"
CGO_ENABLED=0 $GO build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$root/usr/local/bin/tokenreg" ./cmd/tokenreg
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"

tag=localhost/tokenreg:$VERSION
echo "== buildah bud -> $tag"
buildah --storage-driver "$STORAGE" bud --isolation chroot --quiet \
	--build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
	--timestamp "$(git log -1 --format=%ct 2>/dev/null || echo 0)" -t "$tag" -f Containerfile "$ctx" >/dev/null
archive=out/tokenreg-$VERSION.oci.tar
rm -f "$archive"
buildah --storage-driver "$STORAGE" push --quiet "$tag" "oci-archive:$archive:$tag"
cp "$archive" out/tokenreg.oci.tar
echo "== image $tag"
echo "   archive $archive ($(wc -c <"$archive") bytes)"
