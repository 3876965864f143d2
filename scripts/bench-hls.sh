#!/usr/bin/env bash
# LL-HLS clients straight on relaycast, then on MediaMTX, in turn on loopback: the load tool
# publishes the demo clip over RTMP and opens CLIENTS (default 300) LL-HLS clients (blocking
# playlist reloads, every part fetched), and reports the server's CPU and memory, the
# clients' first part and their lag in parts behind live. Builds MediaMTX
# (scripts/build-mediamtx.sh) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-300}
RAMP=${RAMP:-10s}
DURATION=${DURATION:-20s}
ulimit -n 65536 2>/dev/null || true

./scripts/build-mediamtx.sh
go build -o bin/relaycast ./cmd/relaycast
go build -o bin/relaycast-bench ./cmd/relaycast-bench

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

bench() { # label pid rtmp-port http-port
	./bin/relaycast-bench -publish-url "rtmp://127.0.0.1:$3/live/bench" -players 0 \
		-hls-url "http://127.0.0.1:$4/live/bench/index.m3u8" -hls-clients "$CLIENTS" \
		-ramp "$RAMP" -duration "$DURATION" -pid "$2" -label "$1" -json
}

./bin/relaycast -demo=false -rtmp 127.0.0.1:19371 -rtsp 127.0.0.1:19372 -rtsp-rtp-port 0 -srt "" -webrtc "" -rtmps "" \
	-rtsps "" -https "" -media-dir "$tmp/media" -http 127.0.0.1:19373 -max-conns 20000 -log-level warn &
pid=$!
sleep 1
rc=$(bench relaycast "$pid" 19371 19373)
kill "$pid"; wait "$pid" 2>/dev/null || true

# MediaMTX: RTMP in, LL-HLS out (its defaults: 7 segments, 200 ms parts), the rest off.
cat > "$tmp/mediamtx.yml" <<CONF
logLevel: warn
api: no
metrics: no
pprof: no
playback: no
rtsp: no
rtmp: yes
rtmpAddress: 127.0.0.1:19375
hls: yes
hlsAddress: 127.0.0.1:19376
hlsVariant: lowLatency
hlsAlwaysRemux: yes
webrtc: no
srt: no
paths:
  all_others:
CONF
(cd "$tmp" && exec "$OLDPWD/bin/mediamtx" mediamtx.yml) >"$tmp/mediamtx.log" 2>&1 &
pid=$!
sleep 1
mtx=$(bench mediamtx "$pid" 19375 19376)
kill "$pid"; wait "$pid" 2>/dev/null || true

printf '%s\n%s\n' "$rc" "$mtx" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print("| server | LL-HLS clients | kept within 2 parts | failed | CPU % | RSS MiB | KiB/client | first part p50 / p99 ms | lag p50 / p99 / max parts |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    h = r["hls"]
    print("| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.1f / %.1f | %d / %d / %d |" % (r["label"], h["clients"], h["kept_up"], h["failed"],
        r["cpu_percent"], r["peak_rss_mib"], r["kib_per_viewer"], h["first_part_p50_ms"], h["first_part_p99_ms"],
        h["lag_p50_parts"], h["lag_p99_parts"], h["lag_max_parts"]))
a, b = rows
if b["cpu_percent"]:
    print()
    print("relaycast/MediaMTX: CPU %.2f, RSS %.2f" % (a["cpu_percent"]/b["cpu_percent"], a["peak_rss_mib"]/b["peak_rss_mib"]))
'
