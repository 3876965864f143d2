#!/usr/bin/env bash
# WebRTC viewers (WHEP, H.264 video) of relaycast, then of MediaMTX, in turn on loopback: the
# load tool publishes the demo clip encoded again without B-frames (WebRTC players cannot
# play B-frames; relaycast refuses such a stream with 422, MediaMTX closes its readers) over
# RTMP in real time and opens VIEWERS (default 200) pion WHEP players, and reports the
# server's CPU and memory, how many kept up, first frame and delay. Builds MediaMTX
# (scripts/build-mediamtx.sh) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VIEWERS=${1:-200}
RAMP=${RAMP:-10s}
DURATION=${DURATION:-20s}
ulimit -n 65536 2>/dev/null || true

./scripts/build-mediamtx.sh
go build -o bin/relaycast ./cmd/relaycast
go build -o bin/relaycast-bench ./cmd/relaycast-bench

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

# The demo clip (720p30, 900 kbit/s, a keyframe a second) without B-frames.
ffmpeg -hide_banner -loglevel error -y -i testdata/sample-720p.mp4 -c:v libx264 -profile:v high -preset medium \
	-bf 0 -g 30 -keyint_min 30 -sc_threshold 0 -b:v 900k -maxrate 1200k -bufsize 1800k -c:a copy -f flv "$tmp/clip.flv"

bench() { # label pid rtmp-port whep-url
	./bin/relaycast-bench -publish-url "rtmp://127.0.0.1:$3/live/bench" -flv "$tmp/clip.flv" -players 0 \
		-whep-url "$4" -whep-viewers "$VIEWERS" -ramp "$RAMP" -duration "$DURATION" -pid "$2" -label "$1" -json
}

./bin/relaycast -demo=false -rtmp 127.0.0.1:19381 -rtsp 127.0.0.1:19382 -rtsp-rtp-port 0 -srt "" -rtmps "" \
	-rtsps "" -https "" -media-dir "$tmp/media" -http 127.0.0.1:19383 -webrtc 127.0.0.1:19384 \
	-max-conns 20000 -log-level warn &
pid=$!
sleep 1
rc=$(bench relaycast "$pid" 19381 http://127.0.0.1:19383/live/bench/whep)
kill "$pid"; wait "$pid" 2>/dev/null || true

# MediaMTX: RTMP in, WebRTC out on loopback alone (no interface addresses), the rest off.
cat > "$tmp/mediamtx.yml" <<CONF
logLevel: warn
api: no
metrics: no
pprof: no
playback: no
rtsp: no
rtmp: yes
rtmpAddress: 127.0.0.1:19385
hls: no
webrtc: yes
webrtcAddress: 127.0.0.1:19386
webrtcLocalUDPAddress: 127.0.0.1:19387
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
srt: no
paths:
  all_others:
CONF
(cd "$tmp" && exec "$OLDPWD/bin/mediamtx" mediamtx.yml) >"$tmp/mediamtx.log" 2>&1 &
pid=$!
sleep 1
mtx=$(bench mediamtx "$pid" 19385 http://127.0.0.1:19386/live/bench/whep)
kill "$pid"; wait "$pid" 2>/dev/null || true

printf '%s\n%s\n' "$rc" "$mtx" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print("| server | WHEP viewers | kept up | failed | CPU % | load tool CPU % | RSS MiB | KiB/viewer | first frame p50 / p99 ms | delay p50 / p99 ms |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    w = r["whep"]
    print("| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f / %.1f | %.1f / %.1f |" % (r["label"], w["players"], w["kept_up"], w["failed"],
        r["cpu_percent"], r["client_cpu_percent"], r["peak_rss_mib"], r["kib_per_viewer"], w["ttff_p50_ms"], w["ttff_p99_ms"],
        w["delay_p50_ms"], w["delay_p99_ms"]))
a, b = rows
if b["cpu_percent"]:
    print()
    print("relaycast/MediaMTX: CPU %.2f, RSS %.2f" % (a["cpu_percent"]/b["cpu_percent"], a["peak_rss_mib"]/b["peak_rss_mib"]))
'
