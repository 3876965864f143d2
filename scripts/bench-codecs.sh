#!/usr/bin/env bash
# Fast start per codec: for H.264 (the demo over RTMP), H.265 and AV1 (the test clips over
# enhanced RTMP), VIEWERS (default 300) RTMP players and a third as many RTSP/TCP readers
# join one stream over RAMP; prints each run's first-frame times, whether every first picture
# was a keyframe with its configuration ("bad starts"), and whether every viewer kept real
# time. Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VIEWERS=${VIEWERS:-300}
RAMP=${RAMP:-10s}
DURATION=${DURATION:-15s}
go build -o bin/relaycast ./cmd/relaycast
go build -o bin/relaycast-bench ./cmd/relaycast-bench
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
for codec in h264 hevc av1; do
	./bin/relaycast -demo=false -media-dir "$(mktemp -d)" -rtmp 127.0.0.1:19381 -rtsp 127.0.0.1:19382 \
		-rtsp-rtp-port 0 -http 127.0.0.1:19383 -srt "" -webrtc "" -rtmps "" -rtsps "" -https "" -log-level warn &
	pid=$!
	sleep 1
	echo "== $codec"
	./bin/relaycast-bench -codec "$codec" -url rtmp://127.0.0.1:19381/live/$codec -rtsp-url rtsp://127.0.0.1:19382/live/$codec \
		-players "$VIEWERS" -rtsp-readers $((VIEWERS / 3)) -ramp "$RAMP" -duration "$DURATION" -pid "$pid" -label "$codec"
	kill "$pid"; wait "$pid" 2>/dev/null || true
done
