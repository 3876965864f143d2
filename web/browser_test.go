package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
)

// browser is a headless Chromium tab with the console errors it logged.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, flags ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	testenv.NeedTools(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, flags...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if !testenv.InLoopbackNamespace() {
		// Out of a namespace with loopback alone, Chromium's WebRTC would gather candidates
		// on every interface: its pages are those of a browser without WebRTC.
		b.do(t, chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: "delete window.RTCPeerConnection;"})
			return chromedp.Void{}, err
		}))
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.logError(m.String())
			}
		}
	}()
	return b
}

func (b *browser) logError(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errors)
}

func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func get[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sample is what the page's video element shows at one moment.
type sample struct {
	At          time.Duration
	Frames      int     `json:"frames"`
	Time        float64 `json:"time"`
	Ahead       float64 `json:"ahead"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	AudioBytes  int     `json:"audio"`
	Sessions    int     `json:"sessions"`
	PageLatency float64 `json:"latency"`
	PageBitrate float64 `json:"bitrate"`
	Transport   string  `json:"transport"`
}

const sampleJS = `(() => {
  const v = document.getElementById('video');
  const b = v.buffered;
  return {
    frames: v.getVideoPlaybackQuality().totalVideoFrames,
    time: v.currentTime,
    ahead: b.length ? b.end(b.length - 1) - v.currentTime : 0,
    width: v.videoWidth, height: v.videoHeight,
    audio: v.webkitAudioDecodedByteCount || 0,
    sessions: window.relaycast ? window.relaycast.sessions : 0,
    latency: window.relaycast ? window.relaycast.latency : 0,
    bitrate: window.relaycast ? window.relaycast.bitrate : 0,
    transport: window.relaycast ? window.relaycast.transport : '',
  };
})()`

func (b *browser) sample(t *testing.T, since time.Time) sample {
	t.Helper()
	s := get(t, b, chromedp.Evaluate[sample](sampleJS))
	s.At = time.Since(since)
	return s
}

// watch samples the page every 100 ms for d.
func (b *browser) watch(t *testing.T, since time.Time, d time.Duration) []sample {
	var out []sample
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		out = append(out, b.sample(t, since))
	}
	return out
}

func firstPicture(samples []sample) (sample, bool) {
	for _, s := range samples {
		if s.Frames > 0 {
			return s, true
		}
	}
	return sample{}, false
}

func TestWebPagePlaysLiveStreamNearTheLiveEdge(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.Grace = time.Second
	srv := testenv.Start(t, testenv.Options{Relay: cfg})
	pub := testenv.PublishSample(t, srv.URL("live/web"))
	testenv.WaitLive(t, srv, "live/web", 10*time.Second)
	b := newBrowser(t)

	b.do(t, chromedp.Navigate(srv.HTTPURL("/")), chromedp.WaitVisible(`#streams tbody tr`))
	list := get(t, b, chromedp.Text(`#streams tbody`))
	for _, want := range []string{"web", "RTMP", "h264 1280×720", "aac 44.1 kHz"} {
		if !strings.Contains(list, want) {
			t.Errorf("stream list %q lacks %q", list, want)
		}
	}
	// the stream's picture, from the server's snapshot
	b.do(t, chromedp.Poll[chromedp.Void](`(() => { const i = document.querySelector('#streams img.thumb'); return i && i.complete && i.naturalWidth === 160; })()`,
		chromedp.WithPollingTimeout(10*time.Second)))

	loaded := time.Now()
	b.do(t, chromedp.Navigate(srv.HTTPURL("/live/web")))
	samples := b.watch(t, loaded, 8*time.Second)
	first, ok := firstPicture(samples)
	if !ok || first.At > 2*time.Second {
		t.Fatalf("no picture within 2 s of load: %+v", samples[:min(len(samples), 25)])
	}
	last := samples[len(samples)-1]
	if last.Width != 1280 || last.Height != 720 {
		t.Errorf("video is %dx%d, want 1280x720", last.Width, last.Height)
	}
	// A 6 s window starting 1 s after the first picture: playback keeps pace with real time
	// and never runs more than 1 s behind what it has buffered.
	var window []sample
	for _, s := range samples {
		if s.At >= first.At+time.Second && s.At <= first.At+7*time.Second {
			window = append(window, s)
		}
	}
	if adv := window[len(window)-1].Time - window[0].Time; adv < 4.5*float64(window[len(window)-1].At-window[0].At)/float64(6*time.Second) {
		t.Errorf("currentTime advanced %.2f s in %v", adv, window[len(window)-1].At-window[0].At)
	}
	for _, s := range window {
		if s.Ahead > 1 {
			t.Errorf("at %v the buffer ahead of playback is %.2f s, want ≤ 1 s", s.At, s.Ahead)
			break
		}
	}
	if last.AudioBytes == 0 {
		t.Error("no audio decoded")
	}
	checkOverlayBitrate(t, srv, window)
	screenshot(t, b, "playing")

	// The publisher goes away for longer than the grace window, then comes back: the same page
	// plays again by itself.
	pub.Kill()
	time.Sleep(cfg.Grace + 1500*time.Millisecond)
	testenv.PublishSample(t, srv.URL("live/web"))
	back := time.Now()
	before := b.sample(t, back)
	again := b.watch(t, back, 8*time.Second)
	end := again[len(again)-1]
	if end.Sessions <= before.Sessions || end.Time < 2 || end.Frames == 0 {
		t.Errorf("page did not resume after the publisher came back: before %+v, after %+v", before, end)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

func TestWebPageStartsFastAndShowsLatency(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/fast"))
	testenv.WaitLive(t, srv, "live/fast", 10*time.Second)
	b := newBrowser(t)
	var starts, latencies []time.Duration
	for range 5 {
		loaded := time.Now()
		b.do(t, chromedp.Navigate(srv.HTTPURL("/live/fast")))
		samples := b.watch(t, loaded, 3*time.Second)
		first, ok := firstPicture(samples)
		if !ok {
			t.Fatalf("no picture within 3 s")
		}
		starts = append(starts, first.At)
		latencies = append(latencies, time.Duration(samples[len(samples)-1].PageLatency*float64(time.Second)))
	}
	slices.Sort(starts)
	slices.Sort(latencies)
	t.Logf("page load to first picture: median %v (all %v)", starts[2], starts)
	t.Logf("latency the page shows: median %v (all %v)", latencies[2], latencies)
	if starts[2] > 2*time.Second || latencies[2] > time.Second {
		t.Errorf("median start %v, latency %v: want under 2 s and 1 s", starts[2], latencies[2])
	}
}

func screenshot(t *testing.T, b *browser, name string) {
	t.Helper()
	png := get(t, b, chromedp.FullScreenshot(100))
	dir := os.Getenv("RELAYCAST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	file := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}

func TestOfflinePageSaysSoAndStartsWhenTheStreamGoesLive(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(srv.HTTPURL("/live/later")))
	deadline := time.Now().Add(5 * time.Second)
	for {
		status := get(t, b, chromedp.Evaluate[string](`document.getElementById('status').textContent`))
		if strings.Contains(status, "Offline") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("page of a stream that is not live shows %q", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	testenv.PublishSample(t, srv.URL("live/later"))
	live := time.Now()
	samples := b.watch(t, live, 8*time.Second)
	first, ok := firstPicture(samples)
	if !ok {
		t.Fatalf("the page did not start playing when the stream went live")
	}
	t.Logf("picture %v after the publisher started", first.At)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// checkOverlayBitrate compares the bitrate the page shows, averaged over the window, with
// the stream's own in /api/v1/streams: within 15 % (the page counts the fMP4 container too).
func checkOverlayBitrate(t *testing.T, srv *testenv.Server, window []sample) {
	t.Helper()
	var sum float64
	for _, s := range window {
		sum += s.PageBitrate
	}
	page := sum / float64(len(window))
	var list struct {
		Streams []struct {
			Name        string `json:"name"`
			BitrateKbps int    `json:"bitrate_kbps"`
		} `json:"streams"`
	}
	res, err := http.Get(srv.HTTPURL("/api/v1/streams"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || len(list.Streams) == 0 {
		t.Fatalf("stream list: %v, %+v", err, list)
	}
	api := float64(list.Streams[0].BitrateKbps)
	if page < 0.85*api || page > 1.15*api {
		t.Errorf("the page shows %.0f kbit/s, the API says %.0f kbit/s", page, api)
	}
}

// A stored video: the list shows it, its page plays it with the browser's own controls,
// and a seek to 20 s of a 30 s file, before the file has all come, shows the picture of
// 20 s (the clip's band says which second it is).
func TestStoredVideoIsListedPlaysAndSeeks(t *testing.T) {
	dir := t.TempDir()
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir }})
	clip, err := os.ReadFile(testenv.SecondsClip(t, t.TempDir(), 30))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.HTTPURL("/api/v1/media/shows/clip.mp4"), bytes.NewReader(clip))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", res.StatusCode)
	}
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(srv.HTTPURL("/")), chromedp.WaitVisible(`#media tbody tr`))
	if list := get(t, b, chromedp.Text(`#media tbody`)); !strings.Contains(list, "shows/clip") || !strings.Contains(list, "1280×720") {
		t.Errorf("stored video list: %q", list)
	}
	// The thumbnail is the file's picture at 1 s, decoded by the browser.
	b.do(t, chromedp.Poll[chromedp.Void](`document.querySelector('#media video.thumb').readyState >= 2`, chromedp.WithPollingTimeout(10*time.Second)))
	if sec := b.second(t, "#media video.thumb"); sec != 1 {
		t.Errorf("the thumbnail shows second %d of the file, want 1", sec)
	}
	screenshot(t, b, "media-list")

	b.do(t, chromedp.Navigate(srv.HTTPURL("/vod/shows/clip")))
	b.do(t, chromedp.Poll[chromedp.Void](`document.getElementById('video').readyState >= 2`, chromedp.WithPollingTimeout(10*time.Second)))
	get(t, b, chromedp.Evaluate[bool](`(() => { const v = document.getElementById('video'); v.muted = true; v.play(); return true; })()`))
	time.Sleep(1500 * time.Millisecond)
	if s, sec := b.sample(t, time.Now()), b.second(t, "#video"); s.Time < 0.5 || sec > 2 {
		t.Fatalf("playing from the start: at %.2f s, the picture of second %d", s.Time, sec)
	}
	get(t, b, chromedp.Evaluate[bool](`(() => { document.getElementById('video').currentTime = 20; return true; })()`))
	b.do(t, chromedp.Poll[chromedp.Void](`(() => { const v = document.getElementById('video'); return !v.seeking && v.currentTime > 20.2; })()`, chromedp.WithPollingTimeout(10*time.Second)))
	s, sec := b.sample(t, time.Now()), b.second(t, "#video")
	if s.Time < 20 || s.Time > 22 || sec < 18 || sec > 22 || s.Width != 1280 || s.Height != 720 || s.Frames == 0 {
		t.Fatalf("after a seek to 20 s: %+v, the picture of second %d", s, sec)
	}
	t.Logf("seeked to 20 s: at %.2f s, the picture of second %d", s.Time, sec)
	screenshot(t, b, "vod-seeked")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// second reads which second of a seconds clip a video element shows: the mean green of a
// block of its band, drawn onto a canvas.
func (b *browser) second(t *testing.T, selector string) int {
	t.Helper()
	g := get(t, b, chromedp.Evaluate[float64](`(() => {
  const v = document.querySelector(`+strconv.Quote(selector)+`);
  const c = document.createElement('canvas');
  c.width = c.height = 64;
  const g = c.getContext('2d');
  g.drawImage(v, 600, 600, 64, 64, 0, 0, 64, 64);
  const d = g.getImageData(0, 0, 64, 64).data;
  let sum = 0;
  for (let i = 1; i < d.length; i += 4) sum += d[i];
  return sum / (d.length / 4);
})()`))
	return testenv.SecondOf(g)
}
