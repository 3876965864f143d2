package e2e

import (
	"context"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// AV1 and Opus published over enhanced RTMP (gortmplib, as OBS 30 sends them) are read back
// as av1 and opus over LL-HLS, the page's fMP4, RTSP, an enhanced RTMP player and the
// recording, each decoded without a warning; SRT readers get the Opus (MPEG-TS has no AV1).
func TestAV1AndOpusOverEnhancedRTMPPlayEverywhere(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	frames, err := mediatest.FMP4Frames(mediatest.SampleAV1())
	if err != nil {
		t.Fatal(err)
	}
	on := true
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/av1": {Record: &on}}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); testenv.PublishEnhanced(ctx, t, srv.URL("live#av1"), frames) }()
	defer func() { cancel(); <-done }()
	testenv.WaitLive(t, srv, "live/av1", 10*time.Second)

	want := []string{"av1 1280x720", "opus"}
	const window = 6 * time.Second
	for name, url := range map[string]string{
		"ll-hls": srv.HTTPURL("/live/av1/index.m3u8"), "fmp4": srv.HTTPURL("/live/av1/stream.mp4"), "rtsp": srv.RTSPURL("live/av1"),
	} {
		var extra []string
		if name == "rtsp" {
			extra = []string{"-rtsp_transport", "tcp"}
		}
		got := testenv.FFprobeStreams(ctx, t, url, extra...)
		sort.Strings(got)
		if got = slices.Compact(got); !slices.Equal(got, want) && name != "rtsp" {
			t.Errorf("%s: streams %v, want %v", name, got, want)
		}
		if name == "rtsp" {
			// ffmpeg 5.1 has no AV1 RTP depacketizer ("unknown"): gortsplib's client reads
			// the RTP, ffmpeg decodes the temporal units.
			if !slices.Contains(got, "opus") {
				t.Errorf("rtsp: streams %v, no opus", got)
			}
			obu, errs := testenv.RTSPReadAV1(ctx, t, url, window)
			if w, n, err := testenv.DecodeStream(ctx, "obu", obu); err != nil || len(w) > 0 || errs > 0 || n < testenv.MinFrames(window) {
				t.Errorf("rtsp AV1: exit %v, %d pictures, %d depacketizing errors, warnings:\n%s", err, n, errs, strings.Join(w, "\n"))
			}
			continue
		}
		var allowed []*regexp.Regexp
		if name == "ll-hls" {
			allowed = append(allowed, testenv.LiveFMP4Reload)
		}
		d := testenv.FFmpegDecode(ctx, t, url, window, append([]string{"-loglevel", "warning"}, extra...)...)
		if w := testenv.DecoderWarnings(d.Stderr, allowed...); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(window) {
			t.Errorf("%s: exit %v, %d pictures of %v, warnings:\n%s", name, d.Err, d.Frames, window, strings.Join(w, "\n"))
		}
	}

	p := testenv.PlayEnhanced(ctx, t, srv.URL("live#av1"), window)
	if p.VideoCodec != "av1" || p.AudioCodec != "opus" {
		t.Errorf("enhanced rtmp player: tracks %q and %q", p.VideoCodec, p.AudioCodec)
	}
	if w, n, err := p.DecodeVideo(ctx); err != nil || len(w) > 0 || n < testenv.MinFrames(window) {
		t.Errorf("enhanced rtmp player's AV1: exit %v, %d pictures, warnings:\n%s", err, n, strings.Join(w, "\n"))
	}
	if p.Audio < int(window.Seconds()*50*0.9) {
		t.Errorf("enhanced rtmp player: %d Opus frames of 20 ms in %v", p.Audio, window)
	}
	if got := slices.Compact(testenv.FFprobeStreams(ctx, t, srv.SRTURL("read:live/av1"))); !slices.Equal(got, []string{"opus"}) {
		t.Errorf("srt: streams %v, want the Opus alone", got)
	}

	checkRecordingSoFar(ctx, t, srv, "live/av1", want)
}
