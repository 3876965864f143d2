package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// hlsjsPage is a page of another site that plays an HLS URL with hls.js, as third-party
// players do, and reports what its video element shows and the fatal errors hls.js raised.
const hlsjsPage = `<!doctype html><video id="v" muted autoplay playsinline></video>
<script src="/hls.min.js"></script><script>
window.fatal = [];
function play(url) {
  const v = document.getElementById('v');
  const hls = new Hls({lowLatencyMode: true});
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.fatal.push(d.type + ': ' + d.details); });
  hls.loadSource(url);
  hls.attachMedia(v);
  v.play().catch(() => {});
  window.hls = hls;
}
function stats() {
  const v = document.getElementById('v');
  const q = v.getVideoPlaybackQuality();
  return {frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, time: v.currentTime, width: v.videoWidth,
    height: v.videoHeight, fatal: window.fatal, latency: window.hls ? window.hls.latency || 0 : 0};
}
</script>`

// hlsjsStats is what hlsjsPage reports.
type hlsjsStats struct {
	Frames  int      `json:"frames"`
	Dropped int      `json:"dropped"`
	Time    float64  `json:"time"`
	Width   int      `json:"width"`
	Height  int      `json:"height"`
	Fatal   []string `json:"fatal"`
	Latency float64  `json:"latency"`
}

// serveSite serves html at / and hls.js at /hls.min.js: a site of its own (another origin
// than the server's).
func serveSite(t *testing.T, html string) string {
	t.Helper()
	js := testenv.HLSJS(t)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hls.min.js" {
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(js)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, html)
	}))
	t.Cleanup(site.Close)
	return site.URL
}

// hls.js on a page of another site plays the server's LL-HLS and its MPEG-TS variant
// (CORS): pictures at the stream's size, in real time, no fatal error, none in the console.
func TestHLSJSPlaysFromAnotherSite(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/cam"))
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)
	b := newBrowser(t)
	site := serveSite(t, hlsjsPage)
	for _, variant := range []string{"index.m3u8", "ts.m3u8"} {
		b.do(t, chromedp.Navigate(site))
		b.do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("play(%q)", srv.HTTPURL("/live/cam/"+variant))))
		// The MPEG-TS playlist first answers with three 2 s segments (a fresh muxer's ~6 s).
		var s, first hlsjsStats
		for deadline := time.Now().Add(20 * time.Second); s.Frames == 0 && time.Now().Before(deadline); {
			time.Sleep(250 * time.Millisecond)
			s = get(t, b, chromedp.Evaluate[hlsjsStats]("stats()"))
		}
		time.Sleep(time.Second) // past the start
		first, since := get(t, b, chromedp.Evaluate[hlsjsStats]("stats()")), time.Now()
		time.Sleep(4 * time.Second)
		s = get(t, b, chromedp.Evaluate[hlsjsStats]("stats()"))
		t.Logf("%s: %+v", variant, s)
		if n, d := s.Frames-first.Frames, time.Since(since); len(s.Fatal) > 0 || s.Width != 1280 || s.Height != 720 || float64(n) < 0.85*30*d.Seconds() {
			t.Errorf("%s: %+v, %d pictures in %v, want 1280x720 at 30 a second", variant, s, n, d)
		}
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
