#!/usr/bin/env bash
# Builds MediaMTX v1.20.1, the RTSP anchor of `make bench-compare`, into bin/mediamtx: its
# source from the Go module proxy, plus the two files its repository generates (the hls.js
# it embeds, from npm, and its VERSION).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.20.1
HLSJS=1.6.13
[ -x bin/mediamtx ] && exit 0
dir=$(go mod download -json "github.com/bluenviron/mediamtx@$VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cp -r "$dir" "$tmp/src"
chmod -R u+w "$tmp/src"
curl -fsSL "https://registry.npmjs.org/hls.js/-/hls.js-$HLSJS.tgz" | tar -xz -C "$tmp" package/dist/hls.min.js
cp "$tmp/package/dist/hls.min.js" "$tmp/src/internal/servers/hls/hls.min.js"
echo "$VERSION" > "$tmp/src/internal/core/VERSION"
mkdir -p bin
(cd "$tmp/src" && CGO_ENABLED=0 go build -o "$OLDPWD/bin/mediamtx" .)
echo "built bin/mediamtx $VERSION"
