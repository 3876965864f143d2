package rtmp_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// H.265 and AAC published over enhanced RTMP (gortmplib, as OBS sends them) are read back as
// hevc over RTSP and LL-HLS, and over enhanced RTMP by a player that announces hvc1; each
// decodes without a warning. A legacy RTMP player gets the audio.
func TestEnhancedRTMPCarriesH265(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	srv := testenv.Start(t, testenv.Options{})
	frames := testenv.HEVCFrames(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); testenv.PublishEnhanced(ctx, t, srv.URL("live#ehevc"), frames) }()
	defer func() { cancel(); <-done }()
	testenv.WaitLive(t, srv, "live/ehevc", 10*time.Second)

	want := []string{"aac", "hevc 1280x720"}
	for _, url := range []string{srv.RTSPURL("live/ehevc"), srv.HTTPURL("/live/ehevc/index.m3u8")} {
		got := testenv.FFprobeStreams(ctx, t, url)
		sort.Strings(got)
		if got = slices.Compact(got); !slices.Equal(got, want) {
			t.Errorf("%s: streams %v, want %v", url, got, want)
		}
	}
	const window = 6 * time.Second
	d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/ehevc"), window, "-loglevel", "warning", "-rtsp_transport", "tcp")
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(window) {
		t.Errorf("rtsp: exit %v, %d pictures, warnings:\n%s", d.Err, d.Frames, strings.Join(w, "\n"))
	}
	if got := testenv.FFprobeStreams(ctx, t, srv.URL("live/ehevc")); !slices.Equal(got, []string{"aac"}) {
		t.Errorf("legacy rtmp: streams %v, want the audio alone", got)
	}

	// An enhanced RTMP player: its H.265, as Annex B, decodes in ffmpeg without a warning.
	p := testenv.PlayEnhanced(ctx, t, srv.URL("live#ehevc"), window)
	if p.VideoCodec != "hevc" || p.AudioCodec != "aac" {
		t.Fatalf("enhanced rtmp player: tracks %s and %s", p.VideoCodec, p.AudioCodec)
	}
	if w, n, err := p.DecodeVideo(ctx); err != nil || len(w) > 0 || n < testenv.MinFrames(window) {
		t.Errorf("enhanced rtmp player's H.265: exit %v, %d pictures, warnings:\n%s", err, n, strings.Join(w, "\n"))
	}
	if p.Audio < int(window.Seconds()*43*0.9) {
		t.Errorf("enhanced rtmp player: %d AAC frames in %v", p.Audio, window)
	}
}
