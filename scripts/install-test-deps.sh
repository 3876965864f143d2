#!/usr/bin/env bash
# Installs the programs the tests talk to (real peers, not mocks) when they are missing.
# Debian packages only; needs root or sudo for apt-get.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
gst_has() { have gst-inspect-1.0 && gst-inspect-1.0 --exists "$1" 2>/dev/null; }

need=()
have ffmpeg && have ffprobe || need+=(ffmpeg)
have gst-launch-1.0 || need+=(gstreamer1.0-tools)
gst_has rtspsrc || need+=(gstreamer1.0-plugins-good gstreamer1.0-rtsp)
gst_has h264parse || need+=(gstreamer1.0-plugins-bad)
gst_has avdec_h264 || need+=(gstreamer1.0-libav)
have cvlc || need+=(vlc-bin vlc-plugin-base)
have curl || need+=(curl ca-certificates)
have promtool || need+=(prometheus)
# libsrt's own listener: the bar for SRT over a lossy link.
have srt-live-transmit || need+=(srt-tools)
# setpriv runs a server as nobody, for the test of a media directory it may not read.
have setpriv && have unshare || need+=(util-linux)
# ip brings up the loopback of the network namespace Chromium's WebRTC tests run in.
have ip || need+=(iproute2)
have chromium || need+=(chromium fonts-dejavu-core)
# nginx-rtmp is a push relay's target in the tests; nginx's proxy_cache fronts LL-HLS.
[ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || need+=(nginx libnginx-mod-rtmp)

if [ ${#need[@]} -gt 0 ]; then
	echo "installing test peers: ${need[*]}"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		have sudo || { echo "need root or sudo to apt-get install ${need[*]}" >&2; exit 1; }
		sudo=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	# Two test runs started together on a fresh machine both install: the second waits for
	# the first's dpkg lock instead of failing.
	wait_lock=(-o DPkg::Lock::Timeout=900)
	$sudo apt-get "${wait_lock[@]}" update -q
	$sudo apt-get "${wait_lock[@]}" install -y -q --no-install-recommends "${need[@]}"
	# GStreamer's first run scans every plugin and prints a warning for each it cannot load;
	# scan now, so that no test's first gst-launch-1.0 reads as a decoder warning.
	gst-inspect-1.0 >/dev/null 2>&1 || true
fi

# hls.js, the player most sites put HLS in, from npm (no Debian package): the browser tests
# load it on a page of another origin. Kept per user, checked against its known hash; the
# path must match testenv.HLSJS.
HLSJS=1.6.13
HLSJS_SHA256=7c47cd97d7a6e7b98d9623dd8ed9a6d45af4be4085e0c2001cd7175c2b4cfb07
hlsjs=${XDG_CACHE_HOME:-$HOME/.cache}/relaycast/hls.js-$HLSJS/hls.min.js
if [ ! -s "$hlsjs" ]; then
	echo "fetching hls.js $HLSJS"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	curl -fsSL --retry 3 "https://registry.npmjs.org/hls.js/-/hls.js-$HLSJS.tgz" | tar -xz -C "$tmp" package/dist/hls.min.js
	echo "$HLSJS_SHA256  $tmp/package/dist/hls.min.js" | sha256sum -c --quiet
	mkdir -p "$(dirname "$hlsjs")"
	mv "$tmp/package/dist/hls.min.js" "$hlsjs.$$" && mv "$hlsjs.$$" "$hlsjs" # two runs at once: each its own
fi
