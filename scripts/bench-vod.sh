#!/usr/bin/env bash
# Loads relaycast with viewers of stored files: VIEWERS (default 100) RTMP players, then as
# many RTSP/TCP readers, of three 60 s 1 Mbit/s MP4s with 1 s GOPs (made with ffmpeg once,
# kept in bin/vod-media). Prints each run's figures: whether every viewer kept real time,
# first frame, and the memory each viewer adds (after one viewer of each file has played:
# the first viewer of a file builds its shared index). Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VIEWERS=${VIEWERS:-100}
RAMP=${RAMP:-10s}
DURATION=${DURATION:-20s}
media=bin/vod-media
mkdir -p "$media"
for i in 1 2 3; do
	[ -s "$media/f$i.mp4" ] && continue
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=1280x720:rate=30:duration=60,noise=alls=$((i * 4)):allf=t" \
		-f lavfi -i "sine=frequency=$((300 * i)):sample_rate=48000:duration=60" \
		-c:v libx264 -preset veryfast -g 30 -bf 2 -b:v 1000k -maxrate 1000k -bufsize 1000k \
		-c:a aac -b:a 96k -movflags +faststart "$media/f$i.mp4.tmp.mp4"
	mv "$media/f$i.mp4.tmp.mp4" "$media/f$i.mp4"
done
go build -o bin/relaycast ./cmd/relaycast
go build -o bin/relaycast-bench ./cmd/relaycast-bench
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

run() { # rtmp-players rtsp-readers
	./bin/relaycast -demo=false -media-dir "$media" -rtmp 127.0.0.1:19371 -rtsp 127.0.0.1:19372 \
		-rtsp-rtp-port 0 -http 127.0.0.1:19373 -log-level warn &
	pid=$!
	sleep 1
	./bin/relaycast-bench -stored \
		-url rtmp://127.0.0.1:19371/vod/f1,rtmp://127.0.0.1:19371/vod/f2,rtmp://127.0.0.1:19371/vod/f3 \
		-rtsp-url rtsp://127.0.0.1:19372/vod/f1,rtsp://127.0.0.1:19372/vod/f2,rtsp://127.0.0.1:19372/vod/f3 \
		-players "$1" -rtsp-readers "$2" -ramp "$RAMP" -duration "$DURATION" -pid "$pid" -label relaycast
	kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo "== $VIEWERS RTMP players of three stored files"
run "$VIEWERS" 0
echo "== $VIEWERS RTSP/TCP readers of three stored files"
run 0 "$VIEWERS"
