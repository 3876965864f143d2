package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// AV1 and Opus published over enhanced RTMP play on the page in Chromium (which decodes
// both): pictures at 1280x720 keeping pace, and audio.
func TestWebPagePlaysAV1AndOpus(t *testing.T) {
	frames, err := mediatest.FMP4Frames(mediatest.SampleAV1())
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.Start(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	done := make(chan struct{})
	go func() { defer close(done); testenv.PublishEnhanced(ctx, t, srv.URL("live#av1"), frames) }()
	defer func() { cancel(); <-done }()
	testenv.WaitLive(t, srv, "live/av1", 10*time.Second)
	b := newBrowser(t)

	b.do(t, chromedp.Navigate(srv.HTTPURL("/")), chromedp.WaitVisible(`#streams tbody tr`))
	list := get(t, b, chromedp.Text(`#streams tbody`))
	for _, want := range []string{"av1", "RTMP", "av1 1280×720", "opus 48 kHz"} {
		if !strings.Contains(list, want) {
			t.Errorf("stream list %q lacks %q", list, want)
		}
	}
	loaded := time.Now()
	b.do(t, chromedp.Navigate(srv.HTTPURL("/live/av1")))
	samples := b.watch(t, loaded, 7*time.Second)
	first, ok := firstPicture(samples)
	if !ok || first.At > 3*time.Second {
		t.Fatalf("no picture within 3 s of load: %+v", samples[:min(len(samples), 30)])
	}
	last := samples[len(samples)-1]
	if last.Width != 1280 || last.Height != 720 {
		t.Errorf("video is %dx%d, want 1280x720", last.Width, last.Height)
	}
	if adv, span := last.Time-first.Time, (last.At - first.At).Seconds(); adv < 0.75*span {
		t.Errorf("currentTime advanced %.2f s in %.2f s", adv, span)
	}
	if last.AudioBytes == 0 {
		t.Error("no audio decoded")
	}
	screenshot(t, b, "av1-opus")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// A stream in a codec the browser cannot decode (H.265 in Debian's Chromium) gets a message
// that names it, not a black box.
func TestWebPageSaysWhichCodecTheBrowserCannotDecode(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	srv := testenv.Start(t, testenv.Options{})
	testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", testenv.SampleHEVC(), "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", srv.RTSPURL("live/hevc"))
	testenv.WaitLive(t, srv, "live/hevc", 10*time.Second)
	b := newBrowser(t)
	if get(t, b, chromedp.Evaluate[bool](`MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L93.90"')`)) {
		t.Skip("this Chromium decodes H.265")
	}
	b.do(t, chromedp.Navigate(srv.HTTPURL("/live/hevc")))
	var status string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if status = get(t, b, chromedp.Evaluate[string](`document.getElementById('status').textContent`)); strings.Contains(status, "cannot decode") {
			break
		}
	}
	if !strings.Contains(status, "cannot decode this stream's H.265") || strings.Contains(status, "AAC") {
		t.Errorf("status %q, want it to name H.265 (and not the AAC it can decode)", status)
	}
	screenshot(t, b, "hevc-unsupported")
}
