#!/usr/bin/env bash
# Time-shift under load, then the recordings' book and ranges beside MediaMTX's playback
# server, on loopback (not part of `make test`):
#   1. VIEWERS (default 100) DVR viewers of a live path whose window holds the last hour: the
#      load tool publishes the demo clip and each viewer plays dvr.m3u8 from its own start,
#      spread over the hour, in real time. Memory per viewer, first segment, kept up.
#   2. 24 h of one-minute files of one path (one file of the sample clip, hard-linked 1440
#      times under each server's naming): a list, and one hour from noon as MP4, cold (just
#      after a start) and warm, over HTTP from relaycast and from MediaMTX v1.20.1.
#   3. The same in-process (go test -bench DVR ./playback), and a DVR viewer's playlist and
#      segment requests an hour back.
set -euo pipefail
cd "$(dirname "$0")/.."
VIEWERS=${1:-100}
ulimit -n 65536 2>/dev/null || true

./scripts/build-mediamtx.sh
go build -o bin/relaycast ./cmd/relaycast
go build -o bin/relaycast-bench ./cmd/relaycast-bench

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
# one minute of the sample clip (720p, B-frames), fragmented as the recorder writes
ffmpeg -hide_banner -nostdin -loglevel error -y -stream_loop -1 -i testdata/sample-720p.mp4 -t 60 -c copy \
	-movflags frag_keyframe+empty_moov+default_base_moof -frag_duration 1000000 "$tmp/minute.mp4" || test -s "$tmp/minute.mp4"

wait_http() { # url
	for _ in $(seq 100); do curl -s -o /dev/null "$1" && return; sleep 0.1; done
	echo "no answer from $1" >&2; exit 1
}

echo "== $VIEWERS DVR viewers spread over the last hour of a live path"
rec="$tmp/live/recordings/live/bench"
mkdir -p "$rec"
now=$(date +%s)
for m in $(seq 61 -1 2); do
	ln "$tmp/minute.mp4" "$rec/$(date -d "@$((now - m * 60))" +%Y-%m-%d_%H-%M-%S).mp4"
done
./bin/relaycast -demo=false -rtmp 127.0.0.1:19381 -rtsp 127.0.0.1:19382 -rtsp-rtp-port 0 -srt "" -webrtc "" -rtmps "" -rtsps "" -https "" \
	-http 127.0.0.1:19383 -media-dir "$tmp/live" -record -record-segment 1m -dvr 2h -log-level warn &
pid=$!
wait_http http://127.0.0.1:19383/api/v1/streams
curl -s -o /dev/null http://127.0.0.1:19383/api/v1/recordings/live/bench # the book, read from the files once
./bin/relaycast-bench -url rtmp://127.0.0.1:19381/live/bench -players 0 \
	-dvr-url http://127.0.0.1:19383/live/bench/dvr.m3u8 -dvr-viewers "$VIEWERS" -dvr-spread 1h \
	-ramp 10s -duration 30s -pid "$pid" -label relaycast
kill "$pid"; wait "$pid" 2>/dev/null || true

echo
echo "== 24 h of one-minute files: a list, and one hour from noon as MP4, over HTTP"
ours="$tmp/day/recordings/live/day" theirs="$tmp/mtx/recordings/live/day"
mkdir -p "$ours" "$theirs"
day=$(date -d "2026-12-03 00:00:00" +%s)
for m in $(seq 0 1439); do
	t=$((day + m * 60))
	ln "$tmp/minute.mp4" "$ours/$(date -d "@$t" +%Y-%m-%d_%H-%M-%S).mp4"
	ln "$tmp/minute.mp4" "$theirs/$(date -d "@$t" +%Y-%m-%d_%H-%M-%S)-000000.mp4"
done
noon=$(date -u -d "@$((day + 12 * 3600 + 30))" +%Y-%m-%dT%H:%M:%SZ)
timed() { # label url
	curl -s -o "$tmp/out" -w "$1: %{http_code}, first byte %{time_starttransfer} s, all %{time_total} s, %{size_download} bytes\n" "$2"
}

./bin/relaycast -demo=false -rtmp 127.0.0.1:19381 -rtsp 127.0.0.1:19382 -rtsp-rtp-port 0 -srt "" -webrtc "" -rtmps "" -rtsps "" -https "" \
	-http 127.0.0.1:19383 -media-dir "$tmp/day" -log-level warn &
pid=$!
wait_http http://127.0.0.1:19383/api/v1/streams
u=http://127.0.0.1:19383/api/v1/recordings/live/day
timed "relaycast list, cold (the book rebuilt from 1440 files)" "$u"
timed "relaycast list, warm" "$u"
timed "relaycast 1 h range, first" "$u/playback?start=$noon&duration=3600"
timed "relaycast 1 h range, again" "$u/playback?start=$noon&duration=3600"
kill "$pid"; wait "$pid" 2>/dev/null || true
./bin/relaycast -demo=false -rtmp 127.0.0.1:19381 -rtsp 127.0.0.1:19382 -rtsp-rtp-port 0 -srt "" -webrtc "" -rtmps "" -rtsps "" -https "" \
	-http 127.0.0.1:19383 -media-dir "$tmp/day" -log-level warn &
pid=$!
wait_http http://127.0.0.1:19383/api/v1/streams
timed "relaycast list after a restart (the book read back)" "$u"
timed "relaycast 1 h range after a restart" "$u/playback?start=$noon&duration=3600"
kill "$pid"; wait "$pid" 2>/dev/null || true

cat >"$tmp/mtx/mediamtx.yml" <<CONF
logLevel: warn
api: no
metrics: no
pprof: no
playback: yes
playbackAddress: 127.0.0.1:19396
rtsp: no
rtmp: no
hls: no
webrtc: no
srt: no
pathDefaults:
  recordPath: ./recordings/%path/%Y-%m-%d_%H-%M-%S-%f
  recordDeleteAfter: 0s
paths:
  all_others:
CONF
(cd "$tmp/mtx" && exec "$OLDPWD/bin/mediamtx" mediamtx.yml) >"$tmp/mediamtx.log" 2>&1 &
pid=$!
wait_http "http://127.0.0.1:19396/list?path=live/none"
u=http://127.0.0.1:19396
timed "mediamtx list, first" "$u/list?path=live/day"
timed "mediamtx list, again" "$u/list?path=live/day"
timed "mediamtx 1 h range, first (fMP4)" "$u/get?path=live/day&start=$noon&duration=3600"
timed "mediamtx 1 h range, again (fMP4)" "$u/get?path=live/day&start=$noon&duration=3600"
kill "$pid"; wait "$pid" 2>/dev/null || true

echo
echo "== in-process"
go test -run '^$' -bench DVR -benchtime 5x -benchmem ./playback
