package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// The page of a path with a DVR window has a seek bar: dragged 12 s back it plays the
// window's MP4 from the picture of 12 s ago and shows that wall-clock time; LIVE goes back to
// the live stream.
func TestPageRewindsIntoTheDVRWindowAndBack(t *testing.T) {
	clip := testenv.SecondsClip(t, t.TempDir(), 30)
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.DVR = time.Minute }})
	published := time.Now()
	testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "flv", srv.URL("live/dvr"))
	testenv.WaitLive(t, srv, "live/dvr", 10*time.Second)
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(srv.HTTPURL("/live/dvr?transport=mse")))
	b.do(t, chromedp.Poll[chromedp.Void](`window.relaycast.state === 'playing' && !document.getElementById('dvr').hidden`,
		chromedp.WithPollingTimeout(15*time.Second)))
	time.Sleep(time.Until(published.Add(20 * time.Second)))

	asked := time.Now().Add(-12 * time.Second)
	get(t, b, chromedp.Evaluate[bool](`(() => { const s = document.getElementById('seek'); s.value = -12;
  s.dispatchEvent(new Event('change')); return true; })()`))
	b.do(t, chromedp.Poll[chromedp.Void](`window.relaycast.state === 'rewound' && document.getElementById('video').currentTime > 1`,
		chromedp.WithPollingTimeout(15*time.Second)))
	if s := b.sample(t, time.Now()); s.Transport != "DVR" || s.Width != 1280 {
		t.Errorf("rewound: %+v", s)
	}
	shown, err := time.Parse(time.RFC3339Nano, get(t, b, chromedp.Evaluate[string](`window.relaycast.shown`)))
	playedFor := get(t, b, chromedp.Evaluate[float64](`document.getElementById('video').currentTime`))
	want := asked.Add(time.Duration(playedFor * float64(time.Second)))
	if err != nil || shown.Sub(want).Abs() > 1500*time.Millisecond {
		t.Errorf("the page shows %v (%v), want about %v", shown, err, want)
	}
	wantSec := int(want.Sub(published).Seconds())
	if sec := b.second(t, "#video"); sec < wantSec-2 || sec > wantSec+1 {
		t.Errorf("rewound 12 s: the picture of second %d, want about %d", sec, wantSec)
	}
	screenshot(t, b, "dvr-rewound")

	b.do(t, chromedp.Click(`#golive`))
	b.do(t, chromedp.Poll[chromedp.Void](`window.relaycast.state === 'playing' && window.relaycast.transport === 'fMP4'`,
		chromedp.WithPollingTimeout(15*time.Second)))
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
