package webrtc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// whipClip encodes secs seconds of H.264 (Constrained Baseline, no B-frames, as browsers
// send it) and Opus (20 ms packets) into dir, as pion's publishers read them.
func whipClip(t *testing.T, dir string, secs int) (h264, ogg string) {
	t.Helper()
	return whipClipGOP(t, dir, secs, 60)
}

// whipClipGOP is whipClip with a keyframe every gop pictures.
func whipClipGOP(t *testing.T, dir string, secs, gop int) (h264, ogg string) {
	t.Helper()
	testenv.NeedTools(t, "ffmpeg")
	h264, ogg = filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.ogg")
	n := strconv.Itoa(secs)
	p := testenv.StartProc(t, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-t", n, "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-t", n, "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v", "-c:v", "libx264", "-profile:v", "baseline", "-bf", "0", "-g", strconv.Itoa(gop),
		"-pix_fmt", "yuv420p", "-f", "h264", h264,
		"-map", "1:a", "-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20", "-page_duration", "20000", ogg)
	if err := p.Wait(60 * time.Second); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, p.Stderr())
	}
	return h264, ogg
}

// whipPeer is a WHIP publisher: pion on loopback only, sending H.264 and Opus from files in
// real time, as a browser or OBS would.
type whipPeer struct {
	pc           *pwebrtc.PeerConnection
	video, audio *pwebrtc.TrackLocalStaticSample
	location     string
	connected    chan struct{}
	plis         atomic.Int64 // keyframe requests the server sent
}

// newPublisher builds a sendonly offer with pion's default codecs, every candidate in it.
func newPublisher(t *testing.T) (*whipPeer, string) {
	t.Helper()
	m := &pwebrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc := loopbackPeer(t, m, nil)
	p := &whipPeer{pc: pc, connected: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(s pwebrtc.PeerConnectionState) {
		if s == pwebrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.connected) })
		}
	})
	var err error
	if p.video, err = pwebrtc.NewTrackLocalStaticSample(pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH264}, "video", "whip"); err != nil {
		t.Fatal(err)
	}
	if p.audio, err = pwebrtc.NewTrackLocalStaticSample(pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeOpus}, "audio", "whip"); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []pwebrtc.TrackLocal{p.video, p.audio} {
		sender, err := pc.AddTransceiverFromTrack(tr, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		go func() { // RTCP (the server's PLIs and NACKs) reaches the interceptors only if read
			for {
				pkts, _, err := sender.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
						p.plis.Add(1)
					}
				}
			}
		}()
	}
	return p, fullOffer(t, pc)
}

// publish offers, takes the answer and sends the clip in real time until it ends or ctx does.
func (p *whipPeer) publish(ctx context.Context, t *testing.T, url, offer, h264, ogg string, hdr ...string) {
	t.Helper()
	res, answer := post(t, url, "application/sdp", offer, hdr...)
	if res.StatusCode != http.StatusCreated || res.Header.Get("Location") == "" || res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("WHIP answer: %s %v\n%s", res.Status, res.Header, answer)
	}
	p.location = res.Header.Get("Location")
	if err := p.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the WHIP publisher never connected")
	}
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { sendVideo(ctx, t, p.video, h264, start) })
	wg.Go(func() { sendAudio(ctx, t, p.audio, ogg, start) })
	wg.Wait()
}

// sendVideo sends each access unit of an Annex B file at 30 a second.
func sendVideo(ctx context.Context, t *testing.T, track *pwebrtc.TrackLocalStaticSample, file string, start time.Time) {
	f, err := os.Open(file)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		t.Error(err)
		return
	}
	const frame = time.Second / 30
	var au []byte
	for n := 0; ; {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Error(err)
			return
		}
		au = append(append(au, 0, 0, 0, 1), nal.Data...)
		if nal.UnitType != h264reader.NalUnitTypeCodedSliceNonIdr && nal.UnitType != h264reader.NalUnitTypeCodedSliceIdr {
			continue // parameter sets and SEI go with the picture after them
		}
		if !wait(ctx, start.Add(time.Duration(n)*frame)) {
			return
		}
		if err := track.WriteSample(media.Sample{Data: au, Duration: frame}); err != nil {
			return
		}
		au, n = au[:0], n+1
	}
}

// sendAudio sends each Ogg page (one 20 ms Opus packet) in real time.
func sendAudio(ctx context.Context, t *testing.T, track *pwebrtc.TrackLocalStaticSample, file string, start time.Time) {
	f, err := os.Open(file)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		t.Error(err)
		return
	}
	const packet = 20 * time.Millisecond
	for n := 0; ; {
		page, hdr, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Error(err)
			return
		}
		if hdr.GranulePosition == 0 {
			continue // the Opus headers
		}
		if !wait(ctx, start.Add(time.Duration(n)*packet)) {
			return
		}
		if err := track.WriteSample(media.Sample{Data: page, Duration: packet}); err != nil {
			return
		}
		n++
	}
}

func wait(ctx context.Context, until time.Time) bool {
	select {
	case <-time.After(time.Until(until)):
		return true
	case <-ctx.Done():
		return false
	}
}

// A WHIP publisher (H.264 and Opus, as a browser sends) is a publisher like any other: its
// stream plays over RTSP, LL-HLS and RTMP with both tracks and every picture decoded without
// a warning; DELETE ends it.
func TestWHIPPublishPlaysOnEveryOutput(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	h264, ogg := whipClip(t, t.TempDir(), 14)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, offer := newPublisher(t)
	done := make(chan struct{})
	go func() { defer close(done); p.publish(ctx, t, srv.HTTPURL("/live/whip/whip"), offer, h264, ogg) }()
	defer func() { cancel(); <-done }()
	testenv.WaitLive(t, srv, "live/whip", 10*time.Second)

	want := []string{"h264 640x360", "opus"}
	for _, url := range []string{srv.RTSPURL("live/whip"), srv.HTTPURL("/live/whip/index.m3u8")} {
		got := testenv.FFprobeStreams(ctx, t, url)
		sort.Strings(got)
		if got = slices.Compact(got); !slices.Equal(got, want) {
			t.Errorf("%s: streams %v, want %v", url, got, want)
		}
	}
	const window = 4 * time.Second
	var wg sync.WaitGroup
	for _, url := range []string{srv.RTSPURL("live/whip"), srv.HTTPURL("/live/whip/index.m3u8"), srv.URL("live/whip")} {
		var allowed []*regexp.Regexp
		if strings.HasSuffix(url, ".m3u8") {
			allowed = append(allowed, testenv.LiveFMP4Reload)
		}
		wg.Go(func() {
			d := testenv.FFmpegDecode(ctx, t, url, window, "-loglevel", "warning")
			if w := testenv.DecoderWarnings(d.Stderr, allowed...); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(window) {
				t.Errorf("%s: exit %v, %d pictures in %v, warnings:\n%s", url, d.Err, d.Frames, window, strings.Join(w, "\n"))
			}
		})
	}
	wg.Wait()

	req, _ := http.NewRequest(http.MethodDelete, srv.HTTPURL(p.location), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %v %v", p.location, res, err)
	}
	res.Body.Close()
	srv.WaitLog(t, 5*time.Second, "publish stop", "protocol=webrtc", `reason="publisher left"`)
}

// What WHIP refuses, it refuses with a status that says why: a second publisher of a path,
// a wrong key, an offer it cannot take.
func TestWHIPRefusals(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.PublishKeys = map[string]string{"live/one": "sesame", "live/two": "sesame"} }})
	h264, ogg := whipClip(t, t.TempDir(), 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, offer := newPublisher(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		first.publish(ctx, t, srv.HTTPURL("/live/one/whip"), offer, h264, ogg, "Authorization", "Bearer sesame")
	}()
	defer func() { cancel(); <-done }()
	testenv.WaitLive(t, srv, "live/one", 10*time.Second)

	_, second := newPublisher(t)
	_, viewerOffer := newPeer(t, pwebrtc.RTPCodecTypeVideo) // receives only: nothing to publish
	url := srv.HTTPURL("/live/one/whip")
	for _, tc := range []struct {
		name, url, body string
		hdr             []string
		want            int
	}{
		{"no key", srv.HTTPURL("/live/two/whip"), second, nil, http.StatusUnauthorized},
		{"wrong key", srv.HTTPURL("/live/two/whip"), second, []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized},
		{"bad SDP", srv.HTTPURL("/live/two/whip"), "v=0\r\nthis is no offer\r\n", []string{"Authorization", "Bearer sesame"}, http.StatusBadRequest},
		{"already publishing", url, second, []string{"Authorization", "Bearer sesame"}, http.StatusConflict},
		{"a receive-only offer", srv.HTTPURL("/live/two/whip"), viewerOffer, []string{"Authorization", "Bearer sesame"}, http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := post(t, tc.url, "application/sdp", tc.body, tc.hdr...)
			if res.StatusCode != tc.want {
				t.Errorf("%s: %s, want %d\n%s", tc.name, res.Status, tc.want, body)
			}
		})
	}
}

// WebRTC publishers and viewers are sessions like every protocol's: the control API lists
// them, with their bytes, and ends them.
func TestControlAPIListsAndEndsWebRTCSessions(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	h264, ogg := whipClip(t, t.TempDir(), 20)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, offer := newPublisher(t)
	done := make(chan struct{})
	go func() { defer close(done); pub.publish(ctx, t, srv.HTTPURL("/live/api/whip"), offer, h264, ogg) }()
	defer func() { cancel(); <-done }()
	testenv.WaitLive(t, srv, "live/api", 10*time.Second)
	viewer, viewerOffer := newPeer(t, pwebrtc.RTPCodecTypeVideo)
	closed := make(chan struct{})
	var once sync.Once
	viewer.pc.OnConnectionStateChange(func(s pwebrtc.PeerConnectionState) {
		if s == pwebrtc.PeerConnectionStateClosed || s == pwebrtc.PeerConnectionStateFailed {
			once.Do(func() { close(closed) })
		}
	})
	viewer.play(t, srv.HTTPURL("/live/api/whep"), viewerOffer)
	time.Sleep(2 * time.Second)

	type session struct {
		ID, Protocol, Kind, Transport, Path string
		BytesIn, BytesOut                   uint64
	}
	list := func() []session {
		res, err := http.Get(srv.HTTPURL("/api/v1/sessions"))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var l struct {
			Sessions []struct {
				ID        string `json:"id"`
				Protocol  string `json:"protocol"`
				Kind      string `json:"kind"`
				Transport string `json:"transport"`
				Path      string `json:"path"`
				BytesIn   uint64 `json:"bytes_in"`
				BytesOut  uint64 `json:"bytes_out"`
			}
		}
		if err := json.NewDecoder(res.Body).Decode(&l); err != nil {
			t.Fatal(err)
		}
		var out []session
		for _, s := range l.Sessions {
			out = append(out, session{s.ID, s.Protocol, s.Kind, s.Transport, s.Path, s.BytesIn, s.BytesOut})
		}
		return out
	}
	var reader, publisher session
	for _, s := range list() {
		switch {
		case s.Protocol == "webrtc" && s.Kind == "read" && s.Path == "live/api":
			reader = s
		case s.Protocol == "webrtc" && s.Kind == "publish" && s.Path == "live/api":
			publisher = s
		}
	}
	if reader.ID == "" || publisher.ID == "" || reader.BytesOut == 0 || publisher.BytesIn == 0 {
		t.Fatalf("sessions %+v: want a WebRTC reader with bytes out and a publisher with bytes in", list())
	}
	kick, _ := http.NewRequest(http.MethodDelete, srv.HTTPURL("/api/v1/sessions/"+reader.ID), nil)
	if res, err := http.DefaultClient.Do(kick); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE the viewer's session: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the kicked viewer's peer connection is still up 5 s later")
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.HTTPURL("/api/v1/streams/live/api"), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE the stream's publisher: %v %v", res, err)
	}
	res.Body.Close()
	srv.WaitLog(t, 5*time.Second, "publish stop", "protocol=webrtc", "ended by the control API")
}

// A WHEP viewer's keyframe requests (PLI) reach the WHIP publisher of its stream, one a
// second however often it asks.
func TestWHEPKeyframeRequestsReachTheWHIPPublisher(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	// a keyframe a second: the server asks for none of its own after the first
	h264, ogg := whipClipGOP(t, t.TempDir(), 12, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, offer := newPublisher(t)
	done := make(chan struct{})
	go func() { defer close(done); pub.publish(ctx, t, srv.HTTPURL("/live/pli/whip"), offer, h264, ogg) }()
	defer func() { cancel(); <-done }()
	testenv.WaitLive(t, srv, "live/pli", 10*time.Second)

	viewer, voffer := newPeer(t, pwebrtc.RTPCodecTypeVideo)
	viewer.play(t, srv.HTTPURL("/live/pli/whep"), voffer)
	deadline := time.Now().Add(5 * time.Second)
	for viewer.videoPkt.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ssrc := viewer.pc.GetTransceivers()[0].Receiver().Track().SSRC()
	time.Sleep(1500 * time.Millisecond) // past the publisher's first keyframe request
	before := pub.plis.Load()
	start := time.Now()
	for time.Since(start) < 3500*time.Millisecond {
		if err := viewer.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := pub.plis.Load() - before; n < 3 || n > 4 {
		t.Fatalf("35 keyframe requests of a viewer in 3.5 s reached the publisher %d times, want 3 or 4 (one a second)", n)
	}
}
