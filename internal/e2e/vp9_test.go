package e2e

import (
	"context"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// ffmpegVP9RTP is ffmpeg 5.1's notice that its VP9 RTP support is experimental: about
// ffmpeg, not the stream.
var ffmpegVP9RTP = regexp.MustCompile(`\] RTP/VP9 support is still experimental$`)

// VP9 and Opus, published over RTSP by ffmpeg and over enhanced RTMP by gortmplib, are read
// back as vp9 and opus over RTSP, LL-HLS, the page's fMP4, an enhanced RTMP player and the
// recording, each decoded without a warning.
func TestVP9AndOpusPlayEverywhere(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	frames, err := mediatest.FMP4Frames(mediatest.SampleVP9())
	if err != nil {
		t.Fatal(err)
	}
	on := true
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/vp9-rtsp": {Record: &on}}
	}})
	testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", mediatest.SampleVP9(),
		"-c", "copy", "-strict", "experimental", "-f", "rtsp", "-rtsp_transport", "tcp", srv.RTSPURL("live/vp9-rtsp"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); testenv.PublishEnhanced(ctx, t, srv.URL("live#vp9-rtmp"), frames) }()
	defer func() { cancel(); <-done }()
	testenv.WaitLive(t, srv, "live/vp9-rtsp", 10*time.Second)
	testenv.WaitLive(t, srv, "live/vp9-rtmp", 10*time.Second)

	want := []string{"opus", "vp9 1280x720"}
	const window = 6 * time.Second
	var wg sync.WaitGroup
	for _, path := range []string{"live/vp9-rtsp", "live/vp9-rtmp"} {
		for name, url := range map[string]string{
			"rtsp": srv.RTSPURL(path), "ll-hls": srv.HTTPURL("/" + path + "/index.m3u8"), "fmp4": srv.HTTPURL("/" + path + "/stream.mp4"),
		} {
			wg.Go(func() {
				var extra []string
				allowed := []*regexp.Regexp{ffmpegVP9RTP}
				if name == "rtsp" {
					extra = []string{"-rtsp_transport", "tcp"}
				}
				if name == "ll-hls" {
					allowed = append(allowed, testenv.LiveFMP4Reload)
				}
				got := testenv.FFprobeStreams(ctx, t, url, extra...)
				sort.Strings(got)
				if got = slices.Compact(got); !slices.Equal(got, want) {
					t.Errorf("%s %s: streams %v, want %v", path, name, got, want)
				}
				d := testenv.FFmpegDecode(ctx, t, url, window, append([]string{"-loglevel", "warning"}, extra...)...)
				if w := testenv.DecoderWarnings(d.Stderr, allowed...); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(window) {
					t.Errorf("%s %s: exit %v, %d pictures of %v, warnings:\n%s", path, name, d.Err, d.Frames, window, strings.Join(w, "\n"))
				}
			})
		}
		p := testenv.PlayEnhanced(ctx, t, srv.URL(strings.Replace(path, "/", "#", 1)), window)
		if p.VideoCodec != "vp9" || p.AudioCodec != "opus" {
			t.Errorf("%s enhanced rtmp player: tracks %q and %q", path, p.VideoCodec, p.AudioCodec)
		}
		if w, n, err := p.DecodeVideo(ctx); err != nil || len(w) > 0 || n < testenv.MinFrames(window) {
			t.Errorf("%s enhanced rtmp player's VP9: exit %v, %d pictures, warnings:\n%s", path, err, n, strings.Join(w, "\n"))
		}
	}

	wg.Wait()

	checkRecordingSoFar(ctx, t, srv, "live/vp9-rtsp", want)
}
