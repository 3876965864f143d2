package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// abrPage plays an HLS URL with hls.js and keeps what adaptive playback did: the height
// of each rendition it switched to, every stall (waiting to playing, wall ms) and every
// error hls.js raised.
const abrPage = `<!doctype html><video id="v" muted autoplay playsinline></video>
<script src="/hls.min.js"></script><script>
window.heights = []; window.stalls = []; window.errors = [];
function play(url) {
  const v = document.getElementById('v');
  const hls = new Hls({lowLatencyMode: true});
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => window.heights.push(hls.levels[d.level].height));
  hls.on(Hls.Events.ERROR, (_, d) => window.errors.push((d.fatal ? 'fatal ' : '') + d.type + ': ' + d.details));
  let waiting = 0;
  v.addEventListener('waiting', () => { if (v.currentTime > 0) waiting = performance.now(); });
  v.addEventListener('playing', () => { if (waiting) window.stalls.push(performance.now() - waiting); waiting = 0; });
  hls.loadSource(url);
  hls.attachMedia(v);
  v.play().catch(() => {});
  window.hls = hls;
}
function abr() {
  const v = document.getElementById('v');
  return {heights: window.heights, stalls: window.stalls, errors: window.errors,
    frames: v.getVideoPlaybackQuality().totalVideoFrames, height: v.videoHeight,
    levels: window.hls ? window.hls.levels.length : 0};
}
</script>`

type abrStats struct {
	Heights []int     `json:"heights"`
	Stalls  []float64 `json:"stalls"`
	Errors  []string  `json:"errors"`
	Frames  int       `json:"frames"`
	Height  int       `json:"height"`
	Levels  int       `json:"levels"`
}

// An encoder's three renditions (enhanced RTMP multitrack) played by hls.js in Chromium
// through a link the test narrows: it starts at the lowest, climbs to the top while the
// link is wide, and drops when the link narrows below the top's bitrate, with no media
// error and no stall over a second.
func TestHLSJSClimbsAndDropsRenditions(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishLadder(t, srv, "live/abr")
	link := testenv.NewThrottle(t, srv.HTTPURL(""))
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(serveSite(t, abrPage)))
	b.do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("play(%q)", link.URL+"/live/abr/index.m3u8")))

	wait := func(what string, d time.Duration, ok func(abrStats) bool) abrStats {
		t.Helper()
		var s abrStats
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			if s = get(t, b, chromedp.Evaluate[abrStats]("abr()")); ok(s) {
				t.Logf("%s: %+v", what, s)
				return s
			}
		}
		t.Fatalf("%s: not within %v: %+v", what, d, s)
		return s
	}
	s := wait("first pictures", 20*time.Second, func(s abrStats) bool { return s.Frames > 0 })
	// what the first pictures show (hls.js reports its level switch a moment after them)
	if s.Levels != 3 || s.Height != 360 {
		t.Errorf("started at %dp (switches %v) of %d renditions, want the lowest (360) of 3", s.Height, s.Heights, s.Levels)
	}
	wait("climbed", 30*time.Second, func(s abrStats) bool { return s.Height == 720 })
	link.SetRate(1_600_000) // room for 480p (1.2 Mbit/s) and the sound, not for 720p
	wait("dropped", 40*time.Second, func(s abrStats) bool { return s.Height > 0 && s.Height < 720 })
	time.Sleep(3 * time.Second) // playing on at the lower rung
	s = get(t, b, chromedp.Evaluate[abrStats]("abr()"))
	t.Logf("at the end: %+v, %d bytes through the link", s, link.Sent())
	// hls.js files a buffer that ran dry (a stall, bounded below) as a media error too; any
	// other media error (an append or a decode that failed) or a fatal one fails the test
	stalls := regexp.MustCompile(`^mediaError: (bufferStalledError|bufferNudgeOnStall|bufferSeekOverHole)$`)
	for _, e := range s.Errors {
		if strings.HasPrefix(e, "fatal") || strings.Contains(e, "mediaError") && !stalls.MatchString(e) {
			t.Errorf("hls.js: %s", e)
		}
	}
	for _, st := range s.Stalls {
		if st > 1000 {
			t.Errorf("stalled %.0f ms (stalls %v)", st, s.Stalls)
		}
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// pageABR is what the server's own page says of its quality choice.
type pageABR struct {
	Rendition string   `json:"rendition"`
	Switches  []string `json:"switches"`
	Transport string   `json:"transport"`
	Height    int      `json:"height"`
	Frames    int      `json:"frames"`
	Options   []string `json:"options"`
}

const pageABRScript = `(() => { const v = document.getElementById('video'); const r = window.relaycast;
  return {rendition: r.rendition, switches: r.switches, transport: r.transport, height: v.videoHeight,
    frames: v.getVideoPlaybackQuality().totalVideoFrames,
    options: [...document.getElementById('quality').options].map((o) => o.text)}; })()`

// The server's page on a stream with three renditions (fMP4): Auto starts at the stream
// itself, steps down when a throttling proxy narrows the link below it, climbs back once the
// link is wide again; the quality menu lists the three and plays the one chosen.
func TestPageChoosesRenditionsByThroughput(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishLadder(t, srv, "live/abr")
	time.Sleep(2 * time.Second) // the stream list's bitrates are averages since the start
	link := testenv.NewThrottle(t, srv.HTTPURL(""))
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(link.URL+"/live/abr?transport=mse"))

	wait := func(what string, d time.Duration, ok func(pageABR) bool) pageABR {
		t.Helper()
		var s pageABR
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			if s = get(t, b, chromedp.Evaluate[pageABR](pageABRScript)); ok(s) {
				t.Logf("%s: %+v", what, s)
				return s
			}
		}
		t.Fatalf("%s: not within %v: %+v", what, d, s)
		return s
	}
	s := wait("playing", 20*time.Second, func(s pageABR) bool { return s.Frames > 0 })
	if s.Rendition != "live/abr" || s.Height != 720 || strings.Join(s.Options, ",") != "Auto,360p,480p,720p" {
		t.Errorf("started at %s (%dp) with options %v; want the stream itself, 720p, and Auto,360p,480p,720p", s.Rendition, s.Height, s.Options)
	}
	link.SetRate(1_600_000)
	wait("stepped down", 30*time.Second, func(s pageABR) bool { return s.Height > 0 && s.Height < 720 && s.Rendition != "live/abr" })
	link.SetRate(0)
	wait("climbed back", 60*time.Second, func(s pageABR) bool { return s.Height == 720 && s.Rendition == "live/abr" })
	b.do(t, chromedp.Evaluate[chromedp.Void](`(() => { const q = document.getElementById('quality');
  q.value = 'live/abr~2'; q.dispatchEvent(new Event('change')); })()`))
	s = wait("chosen", 20*time.Second, func(s pageABR) bool { return s.Height == 360 && s.Rendition == "live/abr~2" })
	first := s.Frames
	time.Sleep(3 * time.Second)
	if s = get(t, b, chromedp.Evaluate[pageABR](pageABRScript)); s.Frames-first < 60 || s.Rendition != "live/abr~2" {
		t.Errorf("after choosing 360p: %+v, %d pictures in 3 s", s, s.Frames-first)
	}
	// the stream list shows the stream once, with its renditions
	b.do(t, chromedp.Navigate(srv.HTTPURL("/")), chromedp.WaitVisible(`#streams tbody tr`))
	if list := get(t, b, chromedp.Text(`#streams tbody`)); !strings.Contains(list, "1280×720 + 480p, 360p") || strings.Contains(list, "abr~") {
		t.Errorf("stream list: %q", list)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// Chromium's camera published over WHIP in three simulcast layers becomes the stream (the
// first layer, f) and two renditions (live/sim~h, live/sim~q): HLS lists the three, and each
// plays over RTSP at its size with sound.
func TestWHIPSimulcastLayersBecomeRenditions(t *testing.T) {
	if !testenv.LoopbackOnly(t) {
		return
	}
	srv := testenv.Start(t, testenv.Options{})
	b := newBrowser(t, append(webrtcFlags, chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true))...)
	b.do(t, chromedp.Navigate(servePage(t, whipPage)))
	// 720p in three layers, the full picture first
	get(t, b, chromedp.Evaluate[string](fmt.Sprintf(`publish(%q, {width: 1280, height: 720, frameRate: 30},
  [{rid: 'f'}, {rid: 'h', scaleResolutionDownBy: 2}, {rid: 'q', scaleResolutionDownBy: 4}])`, srv.HTTPURL("/live/sim/whip")), chromedp.EvalAwaitPromise))
	// Chromium sends the layers its bandwidth estimate allows, the larger ones once it has
	// grown (a few seconds on loopback)
	for _, p := range []string{"live/sim", "live/sim~h", "live/sim~q"} {
		testenv.WaitLive(t, srv, p, 30*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	want := map[string]string{"live/sim": "h264 1280x720", "live/sim~h": "h264 640x360", "live/sim~q": "h264 320x180"}
	for p, size := range want {
		got := slices.Compact(slices.Sorted(slices.Values(testenv.FFprobeStreams(ctx, t, srv.RTSPURL(p)))))
		if !slices.Equal(got, []string{size, "opus"}) {
			t.Errorf("%s over RTSP: %v, want %s and opus", p, got, size)
		}
	}
	for _, p := range []string{"live/sim~h", "live/sim~q"} {
		d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL(p), 3*time.Second, "-loglevel", "warning")
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < 30 {
			t.Errorf("%s: %d pictures in 3 s, %v, warnings %q", p, d.Frames, d.Err, w)
		}
	}
	t.Logf("Chromium's layers: %q", get(t, b, chromedp.Evaluate[[]string]("layers()", chromedp.EvalAwaitPromise)))
	master := ""
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if master = getBody(t, srv.HTTPURL("/live/sim/index.m3u8")); strings.Count(master, "#EXT-X-STREAM-INF") == 3 {
			break
		}
	}
	for _, res := range []string{"RESOLUTION=320x180", "RESOLUTION=640x360", "RESOLUTION=1280x720"} {
		if !strings.Contains(master, res) {
			t.Errorf("multivariant playlist without %s:\n%s", res, master)
		}
	}
}

// getBody fetches u (following the HLS session's redirect) and returns its body.
func getBody(t *testing.T, u string) string {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// A WHEP viewer of a stream with three renditions (an encoder's, over enhanced RTMP
// multitrack) gets the one its bandwidth carries: Chromium's only path to the server is a
// UDP link the test narrows (the server's host candidate is the link's address, the offer
// names none of Chromium's). It plays the stream at 720p while the link is wide, steps down
// when the link narrows below 720p's bitrate, plays on smoothly there, and climbs back when
// the link widens, every switch at a keyframe: no keyframe request is needed.
func TestWHEPViewerFollowsItsBandwidth(t *testing.T) {
	if !testenv.LoopbackOnly(t) {
		return
	}
	srv, link := testenv.StartBehindLink(t, testenv.Options{})
	testenv.PublishLadderWithoutBFrames(t, srv, "live/abr")
	b := newBrowser(t, webrtcFlags...)
	b.do(t, chromedp.Navigate(servePage(t, whepPage)))
	loc := get(t, b, chromedp.Evaluate[string](fmt.Sprintf("play(%q, true)", srv.HTTPURL("/live/abr/whep")), chromedp.EvalAwaitPromise))
	t.Logf("session %s", loc)

	var s rtcStats
	poll := func() rtcStats {
		time.Sleep(time.Second)
		s = get(t, b, chromedp.Evaluate[rtcStats]("stats()", chromedp.EvalAwaitPromise))
		_, down := link.Stats()
		t.Logf("%dx%d %d pictures, %d freezes (%.1f s), %d dropped, %d packets lost, %d NACKs, %d PLIs; link %d passed, %d dropped",
			s.Width, s.Height, s.Frames, s.Freezes, s.Frozen, s.Dropped, s.Lost, s.NACKs, s.PLIs, down.Passed, down.Dropped)
		return s
	}
	// waitHeight polls until the picture's height is ok, for at most d.
	waitHeight := func(what string, d time.Duration, ok func(int) bool) time.Duration {
		start := time.Now()
		for time.Since(start) < d {
			if ok(poll().Height) {
				return time.Since(start)
			}
		}
		t.Fatalf("%s: the picture is %dx%d after %v", what, s.Width, s.Height, d)
		return 0
	}
	// smooth checks that whole pictures came at the stream's 30 a second for d. Those
	// decoded are logged: with two test runs on two cores, Chromium's decoder fell behind
	// pictures that had all come whole and in time.
	smooth := func(what string, d time.Duration) {
		first, since := poll(), time.Now()
		for time.Since(since) < d {
			poll()
		}
		n, secs := s.Received-first.Received, time.Since(since).Seconds()
		if float64(n) < 0.85*30*secs {
			t.Errorf("%s: %d whole pictures came in %.1f s, want 30 a second", what, n, secs)
		}
		t.Logf("%s: %d pictures came whole and %d were decoded in %.1f s", what, n, s.Frames-first.Frames, secs)
	}

	waitHeight("wide link", 10*time.Second, func(h int) bool { return h == 720 })
	smooth("720p on a wide link", 5*time.Second)
	if _, down := link.Stats(); down.Passed < 1000 {
		t.Fatalf("the server's packets did not go through the link: %+v", down)
	}

	// 2 Mbit/s behind a queue of 400 ms, as a mobile uplink's deep buffers
	link.SetLinks(testenv.Link{}, testenv.Link{Rate: 2_000_000, Queue: 400 * time.Millisecond})
	took := waitHeight("narrow link", 15*time.Second, func(h int) bool { return h > 0 && h < 720 })
	t.Logf("stepped down to %dp %v after the link narrowed to 2 Mbit/s (%.1f s frozen in all)", s.Height, took, s.Frozen)
	// 480p (1.45 Mbit/s with its sound) fits: the viewer gets there, stepping down to 360p
	// on the way when the estimate fell that low, and plays it smoothly.
	took = waitHeight("narrow link", 20*time.Second, func(h int) bool { return h == 480 })
	t.Logf("at 480p %v later", took)
	smooth("480p on a narrow link", 5*time.Second)

	link.SetLinks(testenv.Link{}, testenv.Link{})
	plis := s.PLIs
	took = waitHeight("widened link", 50*time.Second, func(h int) bool { return h == 720 })
	t.Logf("back at 720p %v after the link widened", took)
	smooth("720p again", 3*time.Second)
	if s.PLIs > plis {
		t.Errorf("Chromium asked for %d keyframes after the link widened: a switch up is not at a keyframe", s.PLIs-plis)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
