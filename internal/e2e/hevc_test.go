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
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// H.265 and AAC published over RTSP (TCP) and over SRT are read back as hevc 1280x720 and
// aac over RTSP, LL-HLS (fMP4 hvc1), the browsers' fMP4 and SRT, and recorded, each decoded
// by ffmpeg with no warning, and to an enhanced RTMP player; a legacy RTMP player, which
// announces no H.265, gets the audio and the log says why.
func TestHEVCPublishedOverRTSPAndSRTPlaysEverywhere(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	on := true
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/hevc-rtsp": {Record: &on}}
	}})
	publish := func(format, url string, extra ...string) {
		args := []string{"-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", testenv.SampleHEVC(), "-c", "copy", "-f", format}
		testenv.StartProc(t, "ffmpeg", append(append(args, extra...), url)...)
	}
	publish("rtsp", srv.RTSPURL("live/hevc-rtsp"), "-rtsp_transport", "tcp")
	publish("mpegts", srv.SRTURL("publish:live/hevc-srt"))
	testenv.WaitLive(t, srv, "live/hevc-rtsp", 10*time.Second)
	testenv.WaitLive(t, srv, "live/hevc-srt", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	want := []string{"aac", "hevc 1280x720"}
	const window = 6 * time.Second
	var wg sync.WaitGroup
	for _, path := range []string{"live/hevc-rtsp", "live/hevc-srt"} {
		for name, url := range map[string]string{
			"rtsp": srv.RTSPURL(path), "ll-hls": srv.HTTPURL("/" + path + "/index.m3u8"),
			"fmp4": srv.HTTPURL("/" + path + "/stream.mp4"), "srt": srv.SRTURL("read:" + path),
		} {
			wg.Go(func() {
				var extra []string
				if name == "rtsp" {
					extra = []string{"-rtsp_transport", "tcp"}
				}
				got := testenv.FFprobeStreams(ctx, t, url, extra...)
				sort.Strings(got)
				if got = slices.Compact(got); !slices.Equal(got, want) {
					t.Errorf("%s %s: streams %v, want %v", path, name, got, want)
				}
				var allowed []*regexp.Regexp
				if name == "ll-hls" {
					allowed = append(allowed, testenv.LiveFMP4Reload)
				}
				d := testenv.FFmpegDecode(ctx, t, url, window, append([]string{"-loglevel", "warning"}, extra...)...)
				if w := testenv.DecoderWarnings(d.Stderr, allowed...); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(window) {
					t.Errorf("%s %s: exit %v, %d pictures of %v, warnings:\n%s", path, name, d.Err, d.Frames, window, strings.Join(w, "\n"))
				}
			})
		}
	}
	wg.Wait()

	for _, path := range []string{"live/hevc-rtsp", "live/hevc-srt"} { // and to an enhanced RTMP player
		p := testenv.PlayEnhanced(ctx, t, srv.URL(strings.Replace(path, "/", "#", 1)), window)
		if p.VideoCodec != "hevc" || p.AudioCodec != "aac" {
			t.Errorf("%s enhanced rtmp player: tracks %q and %q", path, p.VideoCodec, p.AudioCodec)
		}
		if w, n, err := p.DecodeVideo(ctx); err != nil || len(w) > 0 || n < testenv.MinFrames(window) {
			t.Errorf("%s enhanced rtmp player's H.265: exit %v, %d pictures, warnings:\n%s", path, err, n, strings.Join(w, "\n"))
		}
	}
	if got := testenv.FFprobeStreams(ctx, t, srv.URL("live/hevc-srt")); !slices.Equal(got, []string{"aac"}) {
		t.Errorf("rtmp: streams %v, want the audio alone", got)
	}
	srv.WaitLog(t, 5*time.Second, "track not sent to an RTMP player", "codec=hevc")

	checkRecordingSoFar(ctx, t, srv, "live/hevc-rtsp", want)
}
