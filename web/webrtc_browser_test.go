package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// webrtcFlags let Chromium's WebRTC run on loopback: its candidates there, and as addresses
// (an mDNS name would need multicast to resolve).
var webrtcFlags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("allow-loopback-in-peer-connection", true),
	chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
}

// whepPage is a page of another site that plays a WHEP URL with the browser's own
// RTCPeerConnection, as a third-party player would, and reports what getStats says.
const whepPage = `<!doctype html><video id="v" autoplay muted playsinline></video><script>
async function play(url, noCandidates) {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  const ms = new MediaStream();
  pc.ontrack = e => { ms.addTrack(e.track); document.getElementById('v').srcObject = ms; };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
  });
  const res = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: noCandidates ? pc.localDescription.sdp.replace(/a=candidate[^\r\n]*\r\n/g, '') : pc.localDescription.sdp});
  if (res.status !== 201) throw new Error('WHEP answered ' + res.status + ': ' + await res.text());
  await pc.setRemoteDescription({type: 'answer', sdp: await res.text()});
  window.pc = pc;
  return res.headers.get('Location');
}
async function stats() {
  const out = {frames: 0, received: 0, lost: 0, width: 0, height: 0, freezes: 0, dropped: 0, audioPackets: 0, concealed: 0, samples: 0, cipher: '', codec: '', state: window.pc.connectionState};
  const all = await window.pc.getStats();
  all.forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') Object.assign(out, {frames: r.framesDecoded || 0,
      received: r.framesReceived || 0, lost: r.packetsLost || 0, width: r.frameWidth || 0,
      height: r.frameHeight || 0, freezes: r.freezeCount || 0, frozen: r.totalFreezesDuration || 0, dropped: r.framesDropped || 0,
      plis: r.pliCount || 0, nacks: r.nackCount || 0,
      codec: all.get(r.codecId) ? all.get(r.codecId).mimeType : ''});
    if (r.type === 'inbound-rtp' && r.kind === 'audio') Object.assign(out, {audioPackets: r.packetsReceived || 0,
      concealed: r.concealedSamples || 0, samples: r.totalSamplesReceived || 0});
    if (r.type === 'transport' && r.srtpCipher) out.cipher = r.srtpCipher;
  });
  return out;
}
</script>`

// rtcStats is what the page's getStats reports.
type rtcStats struct {
	Frames       int     `json:"frames"`
	Received     int     `json:"received"` // pictures that arrived whole
	Lost         int     `json:"lost"`     // packets`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	Freezes      int     `json:"freezes"`
	Frozen       float64 `json:"frozen"` // seconds, in all
	PLIs         int     `json:"plis"`
	NACKs        int     `json:"nacks"`
	Dropped      int     `json:"dropped"`
	AudioPackets int     `json:"audioPackets"`
	Concealed    int     `json:"concealed"`
	Samples      int     `json:"samples"`
	Cipher       string  `json:"cipher"`
	Codec        string  `json:"codec"`
	State        string  `json:"state"`
}

// servePage serves html as the page of a site of its own (another origin than the server's).
func servePage(t *testing.T, html string) string {
	t.Helper()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, html)
	}))
	t.Cleanup(site.Close)
	return site.URL
}

// Chromium on a page of another site plays an RTMP stream (H.264 and AAC, as OBS sends) over
// WHEP: pictures decoded at the stream's size without a freeze, its sound as Opus, over
// SRTP with AES-GCM (the server answers as DTLS server); and an AV1 and Opus stream (over
// enhanced RTMP) in AV1.
func TestChromiumPlaysWHEPFromAnotherSite(t *testing.T) {
	if !testenv.LoopbackOnly(t) {
		return
	}
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/cam"))
	testenv.PublishEnhancedClip(t, srv.URL("live/av1"), mediatest.SampleAV1())
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)
	testenv.WaitLive(t, srv, "live/av1", 10*time.Second)
	b := newBrowser(t, webrtcFlags...)
	page := servePage(t, whepPage)
	for _, stream := range []string{"cam", "av1"} {
		b.do(t, chromedp.Navigate(page))
		loc := get(t, b, chromedp.Evaluate[string](fmt.Sprintf("play(%q)", srv.HTTPURL("/live/"+stream+"/whep")), chromedp.EvalAwaitPromise))
		t.Logf("session %s", loc)
		// The viewer starts at the latest keyframe with the GOP so far at once: Chromium may
		// show the first second's pictures fast or drop some of them to reach live; from the
		// second on, it must show every picture in time.
		// (On a machine busy with two test runs Chromium decoded 28 a second: 85 %.)
		var s, first rtcStats
		var since time.Time
		for i := range 6 {
			time.Sleep(time.Second)
			s = get(t, b, chromedp.Evaluate[rtcStats]("stats()", chromedp.EvalAwaitPromise))
			t.Logf("%+v", s)
			if i == 1 {
				first, since = s, time.Now()
			}
		}
		want := map[string]string{"av1": "video/AV1", "cam": "video/H264"}[stream]
		if n, d := s.Frames-first.Frames, time.Since(since); s.State != "connected" || s.Codec != want || float64(n) < 0.85*30*d.Seconds() ||
			s.Width != 1280 || s.Height != 720 {
			t.Errorf("%s: video %+v, %d pictures in %v, want %s at 30 a second", stream, s, n, d, want)
		}
		// A freeze or a dropped picture is the server's when pictures came late or lost; when
		// every picture arrived whole and in time, it is Chromium's own renderer starved of
		// CPU (two test runs on two cores froze it once for 200 ms).
		received := float64(s.Received-first.Received) / time.Since(since).Seconds()
		if frozen := s.Freezes > 0 || s.Dropped > first.Dropped; frozen && (s.Lost > 0 || received < 0.95*30) {
			t.Errorf("%s: %d freezes, %d pictures dropped after the first 2 s, %.1f pictures a second arrived, %d packets lost: %+v",
				stream, s.Freezes, s.Dropped-first.Dropped, received, s.Lost, s)
		} else if frozen {
			t.Logf("%s: %d freezes, %d pictures dropped by Chromium with every picture in time (%.1f a second)", stream, s.Freezes, s.Dropped-first.Dropped, received)
		}
		if s.AudioPackets < 200 || s.Samples == 0 {
			t.Errorf("%s: sound %+v", stream, s)
		}
		if !strings.Contains(s.Cipher, "AEAD_AES_") || !strings.HasSuffix(s.Cipher, "_GCM") {
			t.Errorf("SRTP cipher %q, want AES-GCM", s.Cipher)
		}
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// The page plays over WebRTC where it can, with the picture within a few hundred ms of live,
// and over fMP4 where WebRTC cannot play the stream (B-frames) or ?transport=mse asks so;
// the overlay says which.
func TestPagePlaysOverWebRTCAndFallsBackToFMP4(t *testing.T) {
	if !testenv.LoopbackOnly(t) {
		return
	}
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/cam"))
	testenv.PublishSample(t, srv.URL("live/bframes"))
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)
	testenv.WaitLive(t, srv, "live/bframes", 10*time.Second)
	b := newBrowser(t, webrtcFlags...)
	for _, tc := range []struct{ page, transport string }{
		{"/live/cam", "WebRTC"},
		{"/live/bframes", "fMP4"},
		{"/live/cam?transport=mse", "fMP4"},
	} {
		start := time.Now()
		b.do(t, chromedp.Navigate(srv.HTTPURL(tc.page)))
		samples := b.watch(t, start, 6*time.Second)
		first, ok := firstPicture(samples)
		last := samples[len(samples)-1]
		if !ok || last.Transport != tc.transport || last.Width != 1280 {
			t.Errorf("%s: %+v, want pictures over %s", tc.page, last, tc.transport)
			continue
		}
		// playback keeps pace with real time over the last 3 s; over WebRTC, at 30 pictures a
		// second (fMP4's count varies as the page chases the live edge)
		mid := samples[len(samples)-31]
		if adv := last.Time - mid.Time; adv < 0.75*(last.At-mid.At).Seconds() {
			t.Errorf("%s: currentTime advanced %.2f s in %v", tc.page, adv, last.At-mid.At)
		}
		if n := last.Frames - mid.Frames; tc.transport == "WebRTC" && float64(n) < 0.85*30*(last.At-mid.At).Seconds() {
			t.Errorf("%s: %d pictures in the last 3 s", tc.page, n)
		}
		t.Logf("%s over %s: first picture %v after opening, latency the page shows %.0f ms", tc.page, last.Transport,
			first.At.Round(time.Millisecond), last.PageLatency*1000)
		if tc.transport == "WebRTC" && last.PageLatency > 0.3 {
			t.Errorf("%s: latency %.0f ms over WebRTC", tc.page, last.PageLatency*1000)
		}
		screenshot(t, b, "page-"+strings.ToLower(tc.transport))
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// whipPage publishes the browser's camera (Chromium's fake one) over WHIP from a page of
// another site, as a third-party publisher page would.
const whipPage = `<!doctype html><script>
async function publish(url, video = {width: 640, height: 360, frameRate: 30}, sendEncodings = undefined) {
  const media = await navigator.mediaDevices.getUserMedia({video, audio: true});
  const pc = new RTCPeerConnection();
  for (const track of media.getTracks()) {
    const init = {direction: 'sendonly'};
    if (track.kind === 'video' && sendEncodings) init.sendEncodings = sendEncodings;
    pc.addTransceiver(track, init);
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
  });
  const res = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: pc.localDescription.sdp});
  if (res.status !== 201) throw new Error('WHIP answered ' + res.status + ': ' + await res.text());
  await pc.setRemoteDescription({type: 'answer', sdp: await res.text()});
  window.pc = pc;
  return res.headers.get('Location');
}
async function layers() {
  const out = [];
  (await window.pc.getStats()).forEach(r => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') out.push(r.rid + ' ' + r.frameWidth + 'x' + r.frameHeight + ' ' + r.framesEncoded + ' frames, ' + r.framesPerSecond + ' fps, ' + r.keyFramesEncoded + ' key, limited by ' + r.qualityLimitationReason);
  });
  return out;
}
async function sent() {
  const out = {codec: '', frames: 0, keyframes: 0, plis: 0};
  const s = await window.pc.getStats();
  s.forEach(r => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      Object.assign(out, {frames: r.framesEncoded || 0, keyframes: r.keyFramesEncoded || 0, plis: r.pliCount || 0});
      const c = s.get(r.codecId);
      if (c) out.codec = c.mimeType;
    }
  });
  return out;
}
</script>`

// Chromium's camera, published over WHIP from a page of another site, plays over RTSP and
// LL-HLS (ffmpeg decodes every picture without a warning) and on the page, in the codec the
// server prefers (H.264), with a keyframe asked for (PLI) whenever 2 s pass without one.
func TestChromiumPublishesOverWHIP(t *testing.T) {
	if !testenv.LoopbackOnly(t) {
		return
	}
	srv := testenv.Start(t, testenv.Options{})
	b := newBrowser(t, append(webrtcFlags, chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true))...)
	b.do(t, chromedp.Navigate(servePage(t, whipPage)))
	loc := get(t, b, chromedp.Evaluate[string](fmt.Sprintf("publish(%q)", srv.HTTPURL("/live/cam/whip")), chromedp.EvalAwaitPromise))
	t.Logf("session %s", loc)
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, url := range []string{srv.RTSPURL("live/cam"), srv.HTTPURL("/live/cam/index.m3u8")} {
		got := testenv.FFprobeStreams(ctx, t, url)
		sort.Strings(got)
		if want := []string{"h264 640x360", "opus"}; !slices.Equal(slices.Compact(got), want) {
			t.Errorf("%s: streams %v, want %v", url, got, want)
		}
	}
	type sentStats struct {
		Codec     string `json:"codec"`
		Frames    int    `json:"frames"`
		Keyframes int    `json:"keyframes"`
		PLIs      int    `json:"plis"`
	}
	const window = 5 * time.Second
	before, since := get(t, b, chromedp.Evaluate[sentStats]("sent()", chromedp.EvalAwaitPromise)), time.Now()
	var wg sync.WaitGroup
	decoded := make([]testenv.Decode, 2)
	for i, url := range []string{srv.RTSPURL("live/cam"), srv.HTTPURL("/live/cam/index.m3u8")} {
		var allowed []*regexp.Regexp
		if strings.HasSuffix(url, ".m3u8") {
			allowed = append(allowed, testenv.LiveFMP4Reload)
		}
		wg.Go(func() {
			d := testenv.FFmpegDecode(ctx, t, url, window, "-loglevel", "warning")
			decoded[i] = d
			if w := testenv.DecoderWarnings(d.Stderr, allowed...); d.Err != nil || len(w) > 0 {
				t.Errorf("%s: exit %v, warnings:\n%s", url, d.Err, strings.Join(w, "\n"))
			}
		})
	}
	wg.Wait()
	// The fake camera sends what the machine and the link allow (fewer pictures a second
	// while two test runs share two cores): each player decodes, of the window's media, what
	// Chromium encoded at the rate it encoded meanwhile, less a picture or two at the ends.
	after := get(t, b, chromedp.Evaluate[sentStats]("sent()", chromedp.EvalAwaitPromise))
	rate := float64(after.Frames-before.Frames) / time.Since(since).Seconds()
	t.Logf("Chromium encoded %.1f pictures a second; players decoded %d and %d of %v", rate, decoded[0].Frames, decoded[1].Frames, window)
	for i, d := range decoded {
		if want := int(rate*window.Seconds()*0.9) - 2; d.Frames < want || rate < 10 {
			t.Errorf("player %d: %d pictures of %v, want at least %d (Chromium encoded %.1f a second)", i, d.Frames, window, want, rate)
		}
	}
	s := get(t, b, chromedp.Evaluate[sentStats]("sent()", chromedp.EvalAwaitPromise))
	t.Logf("Chromium sent %+v", s)
	if s.Codec != "video/H264" || s.PLIs == 0 {
		t.Errorf("Chromium sent %+v, want H.264 with keyframes asked for", s)
	}

	// the page, in another browser, plays it
	viewer := newBrowser(t, webrtcFlags...)
	start := time.Now()
	viewer.do(t, chromedp.Navigate(srv.HTTPURL("/live/cam")))
	samples := viewer.watch(t, start, 4*time.Second)
	if last := samples[len(samples)-1]; last.Transport != "WebRTC" || last.Width != 640 || last.Frames < 30 {
		t.Errorf("the page: %+v", last)
	}
}
