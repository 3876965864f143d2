package hls_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

func TestLLHLSPlaysInFFmpeg(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/hls"))
	testenv.WaitLive(t, srv, "live/hls", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := srv.HTTPURL("/live/hls/index.m3u8")
	streams := testenv.FFprobeStreams(ctx, t, url)
	if !slices.Contains(streams, "h264 1280x720") || !slices.Contains(streams, "aac") {
		t.Fatalf("ffprobe streams = %q, want h264 1280x720 and aac", streams)
	}
	const window = 6 * time.Second
	d := testenv.FFmpegDecode(ctx, t, url, window)
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(window) {
		t.Fatalf("ffmpeg over LL-HLS: %d frames, exit %v, stderr:\n%s", d.Frames, d.Err, d.Stderr)
	}
	// The gap segments of a young playlist are empty, for readers that do not know EXT-X-GAP.
	res, err := http.Get(srv.HTTPURL("/live/hls/gap.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("gap.mp4: %d with %d bytes, want 200 and empty", res.StatusCode, len(body))
	}
	res, err = http.Get(srv.HTTPURL("/live/hls/nothing.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown HLS file: %d, want 404", res.StatusCode)
	}
}

// The MPEG-TS variant (ts.m3u8), for players without fMP4 or LL-HLS: its playlist names the
// codecs, and GStreamer's playbin3 (hlsdemux2, which never prerolls on LL-HLS), ffmpeg and
// VLC decode it without a warning. The stream has no B-frames: playbin3 starting deep in a
// playlist of a B-frame stream prints "co located POCs unavailable" now and then, as it
// does for MediaMTX's MPEG-TS variant of the same stream.
func TestMPEGTSVariantPlaysInGStreamerFFmpegAndVLC(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/ts"))
	testenv.WaitLive(t, srv, "live/ts", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := srv.HTTPURL("/live/ts/ts.m3u8")
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	index, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(index), `CODECS="avc1.`) || !strings.Contains(string(index), "main_stream.m3u8") {
		t.Fatalf("ts.m3u8:\n%s", index)
	}
	// gstreamer first, on the muxer its own request starts
	if w, err := testenv.GstDecodeHLS(ctx, t, url, 150, 150); err != nil || len(w) > 0 {
		t.Errorf("gstreamer playbin3: %v, warnings:\n%s", err, strings.Join(w, "\n"))
	}
	if streams := testenv.FFprobeStreams(ctx, t, url); !slices.Contains(streams, "h264 1280x720") || !slices.Contains(streams, "aac") {
		t.Errorf("ffprobe streams = %q, want h264 1280x720 and aac", streams)
	}
	const window = 6 * time.Second
	if d := testenv.FFmpegDecode(ctx, t, url, window); d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(window) {
		t.Errorf("ffmpeg: %d frames, exit %v, stderr:\n%s", d.Frames, d.Err, d.Stderr)
	}
	log, err := testenv.VLCPlay(ctx, t, url, 5*time.Second)
	if err != nil {
		t.Fatalf("cvlc: %v\n%s", err, log)
	}
	testenv.CheckVLCStartedDecoders(t, log)
}

// VLC 3 plays the LL-HLS playlist as plain HLS of fMP4 segments (it skips the parts): it
// decodes H.264 and AAC without an error.
func TestLLHLSPlaysInVLC(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/vlc"))
	testenv.WaitLive(t, srv, "live/vlc", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log, err := testenv.VLCPlay(ctx, t, srv.HTTPURL("/live/vlc/index.m3u8"), 6*time.Second)
	if err != nil {
		t.Fatalf("cvlc: %v\n%s", err, log)
	}
	testenv.CheckVLCStartedDecoders(t, log)
}
