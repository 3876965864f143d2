package hls_test

import (
	"context"
	"io"
	"net/http"
	"slices"
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
