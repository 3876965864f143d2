#!/usr/bin/env bash
# Origin and two edges on loopback, first relaycast's (edges started with -origin), then
# nginx-rtmp's (edges with `pull`): the load tool publishes to the origin and shares PLAYERS
# (default 1000) RTMP players out between the edges in turn. It reports the three processes'
# CPU and memory together, each edge's first (cold) viewer, and how many connections the
# origin holds halfway through: one publisher and one per edge, however many viewers.
# Installs nginx and libnginx-mod-rtmp with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PLAYERS=${1:-1000}
RAMP=${RAMP:-10s}
DURATION=${DURATION:-20s}

if ! [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
	sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q
	$sudo apt-get install -y -q --no-install-recommends nginx libnginx-mod-rtmp
fi
ulimit -n 65536 2>/dev/null || true
go build -o bin/relaycast ./cmd/relaycast
go build -o bin/relaycast-bench ./cmd/relaycast-bench

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/logs"

# origin_conns PORT: established TCP connections to the origin's RTMP port, halfway through.
origin_conns() {
	sleep $(( ${RAMP%s} + ${DURATION%s} / 2 ))
	ss -Htn state established "( sport = :$1 )" | wc -l >"$tmp/conns"
}

relaycast_node() { # rtmp-port http-port [flags...]
	local rtmp=$1 http=$2; shift 2
	./bin/relaycast -demo=false -rtmp "127.0.0.1:$rtmp" -rtsp "127.0.0.1:$((rtmp + 1))" -rtsp-rtp-port 0 \
		-srt "" -webrtc "" -rtmps "" -rtsps "" -https "" -media-dir "$tmp/media-$rtmp" -http "127.0.0.1:$http" \
		-max-conns 20000 -log-level warn "$@" &
}

relaycast_node 19371 19373
origin=$!
relaycast_node 19381 19383 -origin rtmp://127.0.0.1:19371
edge1=$!
relaycast_node 19391 19393 -origin rtmp://127.0.0.1:19371
edge2=$!
sleep 1
origin_conns 19371 &
(sleep $(( ${RAMP%s} + ${DURATION%s} / 2 )); curl -s http://127.0.0.1:19373/api/v1/streams >"$tmp/streams") &
rc=$(./bin/relaycast-bench -publish-url rtmp://127.0.0.1:19371/live/bench \
	-url rtmp://127.0.0.1:19381/live/bench,rtmp://127.0.0.1:19391/live/bench -players "$PLAYERS" \
	-ramp "$RAMP" -duration "$DURATION" -pid "$origin,$edge1,$edge2" -label relaycast -json)
rc_conns=$(cat "$tmp/conns")
rc_readers=$(python3 -c 'import json,sys; s=[x for x in json.load(open(sys.argv[1]))["streams"] if x["path"]=="live/bench"]; print(s[0]["viewers"] if s else "stream not found")' "$tmp/streams")
kill "$origin" "$edge1" "$edge2"; wait "$origin" "$edge1" "$edge2" 2>/dev/null || true

nginx_node() { # port [pull-from-port]
	local pull=""
	[ -n "${2:-}" ] && pull="pull rtmp://127.0.0.1:$2/live;"
	cat >"$tmp/nginx-$1.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
daemon off;
master_process off;
pid $tmp/nginx-$1.pid;
error_log $tmp/logs/error-$1.log warn;
events { worker_connections 10000; }
rtmp {
  server {
    listen 127.0.0.1:$1;
    chunk_size 4096;
    application live { live on; $pull }
  }
}
CONF
	nginx -c "$tmp/nginx-$1.conf" -p "$tmp" &
}
nginx_node 19360
origin=$!
nginx_node 19366 19360
edge1=$!
nginx_node 19368 19360
edge2=$!
sleep 1
origin_conns 19360 &
ng=$(./bin/relaycast-bench -publish-url rtmp://127.0.0.1:19360/live/bench \
	-url rtmp://127.0.0.1:19366/live/bench,rtmp://127.0.0.1:19368/live/bench -players "$PLAYERS" \
	-ramp "$RAMP" -duration "$DURATION" -pid "$origin,$edge1,$edge2" -label nginx-rtmp -json)
ng_conns=$(cat "$tmp/conns")
kill "$origin" "$edge1" "$edge2"; wait "$origin" "$edge1" "$edge2" 2>/dev/null || true

printf '%s\n%s\n' "$rc" "$ng" | CONNS="$rc_conns $ng_conns" READERS="$rc_readers" python3 -c '
import json, os, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
conns = os.environ["CONNS"].split()
print("| servers (origin + 2 edges) | players | kept up | fps min | CPU % (3 processes) | RSS MiB (3) | 1st frame p50 ms | p99 | cold edge 1st frame ms | delay p50 ms | p99 | origin connections |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r, c in zip(rows, conns):
    print("| %s | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %.1f | %.1f | %s |" % (r["label"], r["players"], r["kept_up"], r["fps_min"],
        r["cpu_percent"], r["peak_rss_mib"], r["ttff_p50_ms"], r["ttff_p99_ms"], " / ".join("%.0f" % x for x in r.get("first_ttff_ms", [])),
        r["delay_p50_ms"], r["delay_p99_ms"], c))
a, b = rows
print()
print("relaycast/nginx-rtmp: CPU %.2f, RSS %.2f, 1st frame p50 %.3g" % (a["cpu_percent"]/b["cpu_percent"],
    a["peak_rss_mib"]/b["peak_rss_mib"], a["ttff_p50_ms"]/b["ttff_p50_ms"]))
print("relaycast origin API, readers of live/bench:", os.environ["READERS"])
'
