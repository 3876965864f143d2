#!/usr/bin/env bash
# Loads relaycast and nginx-rtmp in turn with the same players on loopback and prints one
# table with the ratios relaycast/nginx-rtmp, then loads relaycast and MediaMTX in turn with
# RTSP/TCP readers (RTSP_READERS, default 500; nginx-rtmp has no RTSP). Usage:
# scripts/bench-compare.sh [PLAYERS...] (default 1000 3000). relaycast's /metrics is
# scraped every 5 s meanwhile. Installs nginx and
# libnginx-mod-rtmp with apt-get when missing, and builds MediaMTX (scripts/build-mediamtx.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -eq 0 ] && counts=(1000 3000)
RAMP=${RAMP:-10s}
DURATION=${DURATION:-20s}
RTSP_READERS=${RTSP_READERS:-500}

if ! [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
	sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q
	$sudo apt-get install -y -q --no-install-recommends nginx libnginx-mod-rtmp
fi
ulimit -n 65536 2>/dev/null || true

./scripts/build-mediamtx.sh
go build -o bin/relaycast ./cmd/relaycast
go build -o bin/relaycast-bench ./cmd/relaycast-bench

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/logs"
cat > "$tmp/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
daemon off;
master_process off;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 10000; }
rtmp {
  server {
    listen 127.0.0.1:19360;
    chunk_size 4096;
    application live { live on; }
  }
}
CONF

relaycast() { # players rtsp-readers
	./bin/relaycast -demo=false -rtmp 127.0.0.1:19361 -rtsp 127.0.0.1:19362 -rtsp-rtp-port 0 -media-dir "$tmp/media" \
		-http 127.0.0.1:19363 -max-conns 20000 -log-level warn &
	pid=$!
	sleep 1
	# Scraped every 5 s, as Prometheus would, so that the metrics' cost is in the figures.
	while kill -0 "$pid" 2>/dev/null; do curl -s -o /dev/null http://127.0.0.1:19363/metrics || true; sleep 5; done &
	./bin/relaycast-bench -url rtmp://127.0.0.1:19361/live/bench -players "$1" \
		-rtsp-url rtsp://127.0.0.1:19362/live/bench -rtsp-readers "$2" \
		-ramp "$RAMP" -duration "$DURATION" -pid "$pid" -label relaycast -json
	kill "$pid"; wait "$pid" 2>/dev/null || true
}

# MediaMTX: RTMP to publish, RTSP over TCP to read, everything else off.
cat > "$tmp/mediamtx.yml" <<CONF
logLevel: warn
api: no
metrics: no
pprof: no
playback: no
rtsp: yes
rtspTransports: [tcp]
rtspAddress: 127.0.0.1:19364
rtmp: yes
rtmpAddress: 127.0.0.1:19365
hls: no
webrtc: no
srt: no
paths:
  all_others:
CONF

mediamtx() { # rtsp-readers
	# In $tmp: it writes a certificate of its own (auto.crt, auto.key) where it runs.
	(cd "$tmp" && exec "$OLDPWD/bin/mediamtx" mediamtx.yml) >"$tmp/logs/mediamtx.log" 2>&1 &
	pid=$!
	sleep 1
	./bin/relaycast-bench -url rtmp://127.0.0.1:19365/live/bench -players 0 \
		-rtsp-url rtsp://127.0.0.1:19364/live/bench -rtsp-readers "$1" \
		-ramp "$RAMP" -duration "$DURATION" -pid "$pid" -label mediamtx -json
	kill "$pid"; wait "$pid" 2>/dev/null || true
}

results=()
for n in "${counts[@]}"; do
	results+=("$(relaycast "$n" 0)")

	nginx -c "$tmp/nginx.conf" -p "$tmp" &
	pid=$!
	sleep 1
	results+=("$(./bin/relaycast-bench -url rtmp://127.0.0.1:19360/live/bench -players "$n" \
		-ramp "$RAMP" -duration "$DURATION" -pid "$pid" -label nginx-rtmp -json)")
	kill "$pid"; wait "$pid" 2>/dev/null || true
done
rtsp="" rtspmtx=""
if [ "$RTSP_READERS" -gt 0 ]; then
	rtsp=$(relaycast 0 "$RTSP_READERS")
	rtspmtx=$(mediamtx "$RTSP_READERS")
fi

printf '%s\n' "${results[@]}" | RTSP="$rtsp" RTSPMTX="$rtspmtx" python3 -c '
import json, os, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
cols = [("players","players"),("kept_up","kept up"),("fps_min","fps min"),("cpu_percent","CPU %"),("client_cpu_percent","load tool CPU %"),
        ("peak_rss_mib","RSS MiB"),("kib_per_viewer","KiB/viewer"),("ttff_p50_ms","1st frame p50 ms"),
        ("ttff_p99_ms","p99"),("delay_p50_ms","delay p50 ms"),("delay_p99_ms","p99")]
print("| server | " + " | ".join(c[1] for c in cols) + " |")
print("|---" * (len(cols)+1) + "|")
for r in rows:
    print("| %s | " % r["label"] + " | ".join("%.1f" % r[c[0]] if isinstance(r[c[0]], float) else str(r[c[0]]) for c in cols) + " |")
print()
print("| players | CPU ratio relaycast/nginx | RSS ratio | KiB/viewer ratio | 1st frame p50 ratio | delay p50 ratio |")
print("|---|---|---|---|---|---|")
for i in range(0, len(rows), 2):
    a, b = rows[i], rows[i+1]
    ratio = lambda k: ("%.3g" % (a[k]/b[k])) if b[k] else "n/a"
    print("| %d | %s | %s | %s | %s | %s |" % (a["players"], ratio("cpu_percent"), ratio("peak_rss_mib"),
        ratio("kib_per_viewer"), ratio("ttff_p50_ms"), ratio("delay_p50_ms")))
if os.environ.get("RTSP"):
    rs = [json.loads(os.environ[k]) for k in ("RTSP", "RTSPMTX") if os.environ.get(k)]
    print()
    print("| server | RTSP/TCP readers | kept up | fps min | CPU % | RSS MiB | KiB/viewer | 1st frame p50 ms | p99 | delay p50 ms | p99 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rs:
        g = r["rtsp"]
        print("| %s | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |" % (r["label"], g["players"], g["kept_up"], g["fps_min"],
            r["cpu_percent"], r["peak_rss_mib"], r["kib_per_viewer"], g["ttff_p50_ms"], g["ttff_p99_ms"], g["delay_p50_ms"], g["delay_p99_ms"]))
    if len(rs) == 2 and rs[1]["cpu_percent"] and rs[1]["kib_per_viewer"]:
        a, b = rs
        print()
        print("RTSP relaycast/MediaMTX: CPU %.2f, KiB/viewer %.2f, RSS %.2f" % (a["cpu_percent"]/b["cpu_percent"],
            a["kib_per_viewer"]/b["kib_per_viewer"], a["peak_rss_mib"]/b["peak_rss_mib"]))
'
