#!/usr/bin/env bash
# Regenerates the committed media clips. Needs ffmpeg with libx264 and drawtext (fonts-dejavu-core).
# The clips are committed, so neither the build nor the tests run this.
set -euo pipefail
cd "$(dirname "$0")/.."
font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
# 6 s of a 1280x720 test pattern with a running clock and a 440 Hz tone: H.264 High with
# B-frames (-bf 2), a keyframe every second, AAC-LC 44.1 kHz stereo. The tone stops 0.1 s early
# so that ffmpeg -stream_loop (which loops by the longest track) never overlaps audio.
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=6" \
  -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=5.9" \
  -filter_complex "[0:v]drawtext=fontfile=${font}:text='relaycast  %{pts\:hms}':x=40:y=40:fontsize=64:fontcolor=white:box=1:boxcolor=black@0.6[v];[1:a]aformat=channel_layouts=stereo[a]" \
  -map "[v]" -map "[a]" \
  -c:v libx264 -profile:v high -preset medium -bf 2 -g 30 -keyint_min 30 -sc_threshold 0 \
  -b:v 900k -maxrate 1200k -bufsize 1800k -pix_fmt yuv420p \
  -c:a aac -b:a 64k -movflags +faststart \
  testdata/sample-720p.mp4
# The demo stream is the same clip as FLV, embedded in the binary.
ffmpeg -hide_banner -loglevel error -y -i testdata/sample-720p.mp4 -c copy -f flv ingest/demo/demo.flv
# The same clip in H.265 (Main, B-frames, a keyframe every second, closed GOPs so every
# keyframe is an IDR) with the same AAC: for H.265 ingest over RTSP and SRT.
ffmpeg -hide_banner -loglevel error -y -i testdata/sample-720p.mp4 \
  -c:v libx265 -preset fast -x265-params "keyint=30:min-keyint=30:scenecut=0:bframes=2:open-gop=0:log-level=error" \
  -b:v 700k -pix_fmt yuv420p -tag:v hvc1 -c:a copy -movflags +faststart \
  testdata/sample-720p-hevc.mp4
# The same clip in AV1 (SVT-AV1, a keyframe every second) with Opus 48 kHz stereo, as
# fragmented MP4: for AV1 and Opus over enhanced RTMP, whose test publisher reads it.
ffmpeg -hide_banner -loglevel error -y -i testdata/sample-720p.mp4 \
  -c:v libsvtav1 -preset 10 -g 30 -b:v 700k -pix_fmt yuv420p -svtav1-params "keyint=30:scd=0" \
  -c:a libopus -b:a 64k -ar 48000 -movflags +frag_keyframe+empty_moov+default_base_moof \
  testdata/sample-720p-av1.mp4
# The same clip in VP9 (libvpx, a keyframe every second) with Opus, as fragmented MP4: for VP9
# over enhanced RTMP and RTSP.
ffmpeg -hide_banner -loglevel error -y -i testdata/sample-720p.mp4 \
  -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -row-mt 1 -g 30 -keyint_min 30 -b:v 700k -pix_fmt yuv420p \
  -c:a libopus -b:a 64k -ar 48000 -movflags +frag_keyframe+empty_moov+default_base_moof \
  testdata/sample-720p-vp9.mp4
