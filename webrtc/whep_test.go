package webrtc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
)

// whepPeer is a WHEP player: pion on loopback only, as a browser would offer.
type whepPeer struct {
	pc       *pwebrtc.PeerConnection
	location string

	mu       sync.Mutex
	h264     bytes.Buffer // the video: H.264 and H.265 as Annex B, AV1 and VP9 as IVF (ivf set)
	ivf      bool
	ogg      bytes.Buffer // the sound as Ogg Opus
	firstAt  time.Time    // when the first video packet came
	opus     atomic.Int64 // audio packets
	videoPkt atomic.Int64
	onVideo  func(seq uint16, ts uint32) // each video packet as it comes, if set before play
	// offsets maps each kind's latest sender report to where its RTP time 0 lies on the
	// server's wall clock: equal for picture and sound that play together
	offsets map[pwebrtc.RTPCodecType]time.Time
}

// dropFirst loses every nth video packet on its first arrival, not its resending: a lossy
// link, on loopback. The first 100 packets pass: a player that lost the very first one has
// nothing to tell it was there, as a browser would not, and waits for the next keyframe.
type dropFirst struct {
	interceptor.NoOp
	nth     uint16
	dropped *atomic.Int64
	mu      sync.Mutex
	seen    map[uint16]bool
}

func (d *dropFirst) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

func (d *dropFirst) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if !strings.EqualFold(info.MimeType, pwebrtc.MimeTypeH264) {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, a, err := r.Read(b, a)
			if err != nil || n < 4 {
				return n, a, err
			}
			seq := binary.BigEndian.Uint16(b[2:4])
			d.mu.Lock()
			first := !d.seen[seq]
			d.seen[seq] = true
			warm := len(d.seen) > 100
			d.mu.Unlock()
			if !first || !warm || seq%d.nth != 0 {
				return n, a, err
			}
			d.dropped.Add(1)
		}
	})
}

// newPeer builds a recvonly offer for the given kinds, with pion's default codecs, every
// candidate in it.
func newPeer(t *testing.T, kinds ...pwebrtc.RTPCodecType) (*whepPeer, string) {
	t.Helper()
	m := &pwebrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	return newPeerWith(t, m, nil, kinds...)
}

// loopbackPeer is a pion peer connection on loopback alone with the codecs of m, and the
// NACKs and reports a browser sends; first, when set, is an interceptor nearest the
// network (before the NACK generator).
func loopbackPeer(t *testing.T, m *pwebrtc.MediaEngine, first interceptor.Factory) *pwebrtc.PeerConnection {
	return loopbackPeerOver(t, pwebrtc.NetworkTypeUDP4, m, first)
}

// loopbackPeerOver is loopbackPeer with ICE over network alone.
func loopbackPeerOver(t *testing.T, network pwebrtc.NetworkType, m *pwebrtc.MediaEngine, first interceptor.Factory) *pwebrtc.PeerConnection {
	return loopbackPeerWith(t, pwebrtc.Configuration{}, network, m, first)
}

// loopbackPeerWith is loopbackPeerOver with cfg.
func loopbackPeerWith(t *testing.T, cfg pwebrtc.Configuration, network pwebrtc.NetworkType, m *pwebrtc.MediaEngine, first interceptor.Factory) *pwebrtc.PeerConnection {
	t.Helper()
	var se pwebrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]pwebrtc.NetworkType{network})
	// pion waits 2 s before it takes a pair through TURN, in case a better one comes; a
	// browser does not
	se.SetRelayAcceptanceMinWait(0)
	ir := &interceptor.Registry{}
	if first != nil {
		ir.Add(first)
		// first sees packets after SRTP: what it drops, SRTP has taken as received, and a
		// resending would be refused as a replay
		se.DisableSRTPReplayProtection(true)
	}
	if err := pwebrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se), pwebrtc.WithMediaEngine(m), pwebrtc.WithInterceptorRegistry(ir)).NewPeerConnection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// newPeerWith is newPeer with the codecs of m and, when set, an interceptor nearest the
// network (before the NACK generator).
func newPeerWith(t *testing.T, m *pwebrtc.MediaEngine, first interceptor.Factory, kinds ...pwebrtc.RTPCodecType) (*whepPeer, string) {
	t.Helper()
	return newPeerOn(t, loopbackPeer(t, m, first), kinds...)
}

// newPeerOn is newPeer on pc.
func newPeerOn(t *testing.T, pc *pwebrtc.PeerConnection, kinds ...pwebrtc.RTPCodecType) (*whepPeer, string) {
	t.Helper()
	p := &whepPeer{pc: pc, offsets: map[pwebrtc.RTPCodecType]time.Time{}}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, recv *pwebrtc.RTPReceiver) {
		go p.readReports(tr.Kind(), int64(tr.Codec().ClockRate), recv)
		// in order, NACKed packets in their place, as a browser's jitter buffer puts them
		var depacketizer rtp.Depacketizer = &codecs.H264Packet{}
		if strings.EqualFold(tr.Codec().MimeType, pwebrtc.MimeTypeH265) {
			depacketizer = &codecs.H265Depacketizer{}
		}
		pictures := samplebuilder.New(512, depacketizer, 90000)
		var ogg *oggwriter.OggWriter
		var ivf *ivfwriter.IVFWriter
		if mime := tr.Codec().MimeType; strings.EqualFold(mime, pwebrtc.MimeTypeAV1) || strings.EqualFold(mime, pwebrtc.MimeTypeVP9) {
			p.mu.Lock()
			p.ivf = true
			p.mu.Unlock()
			var err error
			if ivf, err = ivfwriter.NewWith(&lockedWriter{&p.mu, &p.h264}, ivfwriter.WithCodec(mime)); err != nil {
				t.Error(err)
				return
			}
		}
		if tr.Kind() == pwebrtc.RTPCodecTypeAudio {
			var err error
			if ogg, err = oggwriter.NewWith(&lockedWriter{&p.mu, &p.ogg}, 48000, 2); err != nil {
				t.Error(err)
				return
			}
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if ogg != nil {
				p.opus.Add(1)
				_ = ogg.WriteRTP(pkt)
				continue
			}
			p.videoPkt.Add(1)
			if p.onVideo != nil {
				p.onVideo(pkt.SequenceNumber, pkt.Timestamp)
			}
			if ivf != nil {
				_ = ivf.WriteRTP(pkt)
				continue
			}
			pictures.Push(pkt)
			p.mu.Lock()
			if p.firstAt.IsZero() {
				p.firstAt = time.Now()
			}
			for s := pictures.Pop(); s != nil; s = pictures.Pop() {
				p.h264.Write(s.Data)
			}
			p.mu.Unlock()
		}
	})
	return p, fullOffer(t, pc)
}

// fullOffer makes pc's offer with every candidate in it, as a client that does not trickle
// sends it.
func fullOffer(t *testing.T, pc *pwebrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// readReports notes the sender reports of a track.
func (p *whepPeer) readReports(kind pwebrtc.RTPCodecType, rate int64, recv *pwebrtc.RTPReceiver) {
	for {
		pkts, _, err := recv.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			if sr, ok := pkt.(*rtcp.SenderReport); ok {
				at := ntp.Decode(sr.NTPTime).Add(-time.Duration(int64(sr.RTPTime) * int64(time.Second) / rate))
				p.mu.Lock()
				p.offsets[kind] = at
				p.mu.Unlock()
			}
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// decodesAll fails the test unless ffmpeg decodes the player's 4 s or so of video, in
// format, without a warning; over says how it came.
func (p *whepPeer) decodesAll(t *testing.T, format, over string) {
	t.Helper()
	p.mu.Lock()
	stream := bytes.Clone(p.h264.Bytes())
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if warnings, pictures, err := testenv.DecodeStream(ctx, format, stream); err != nil || len(warnings) > 0 || pictures < testenv.MinFrames(3*time.Second) {
		t.Fatalf("ffmpeg decoded %d pictures of about 4 s %s (%v), warnings:\n%s", pictures, over, err, strings.Join(warnings, "\n"))
	}
}

// selectedPair is the ICE candidate pair the player's video comes over.
func (p *whepPeer) selectedPair() (*pwebrtc.ICECandidatePair, error) {
	return p.pc.GetTransceivers()[0].Receiver().Transport().ICETransport().GetSelectedCandidatePair()
}

// post sends a WHEP request and returns the response, its body read.
func post(t *testing.T, url, contentType, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return request(t, http.MethodPost, url, contentType, body, hdr...)
}

// request sends a request with a body and header pairs and returns the response, its body read.
func request(t *testing.T, method, url, contentType, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// play offers and takes the answer; it fails the test unless the server made a session.
func (p *whepPeer) play(t *testing.T, url, offer string, hdr ...string) {
	t.Helper()
	res, answer := post(t, url, "application/sdp", offer, hdr...)
	if res.StatusCode != http.StatusCreated || res.Header.Get("Content-Type") != "application/sdp" ||
		res.Header.Get("ETag") == "" || res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("WHEP answer: %s %v\n%s", res.Status, res.Header, answer)
	}
	p.location = res.Header.Get("Location")
	if err := p.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
}

// A WHEP player of an RTMP stream (H.264 and AAC, as OBS sends) gets the picture from the
// relay's latest keyframe at once and the sound as Opus, and ffmpeg decodes every picture
// and every second of sound of it without a warning; DELETE ends the session.
func TestWHEPPlaysAnRTMPStreamFromTheLatestKeyframe(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/cam"))
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // joins mid-GOP: the 1 s GOPs of the sample have gone by

	p, offer := newPeer(t, pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio)
	asked := time.Now()
	p.play(t, srv.HTTPURL("/live/cam/whep"), offer)
	time.Sleep(4 * time.Second)

	p.mu.Lock()
	stream, first, sound := bytes.Clone(p.h264.Bytes()), p.firstAt, bytes.Clone(p.ogg.Bytes())
	p.mu.Unlock()
	if first.IsZero() {
		t.Fatal("no video packet in 4 s")
	}
	t.Logf("first video packet %v after the offer; %d packets", first.Sub(asked), p.videoPkt.Load())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	warnings, pictures, err := testenv.DecodeStream(ctx, "h264", stream)
	if err != nil || len(warnings) > 0 || pictures < testenv.MinFrames(3*time.Second) {
		t.Fatalf("ffmpeg decoded %d pictures of about 4 s (%v), warnings:\n%s", pictures, err, strings.Join(warnings, "\n"))
	}
	if n := p.opus.Load(); n < 150 { // 50 packets a second of 20 ms
		t.Fatalf("%d Opus packets in 4 s", n)
	}
	if d, warnings := decodeSound(ctx, t, sound); len(warnings) > 0 || d < 3*time.Second {
		t.Fatalf("ffmpeg decoded %v of sound of about 4 s, warnings:\n%s", d, strings.Join(warnings, "\n"))
	}
	// Lip sync: the sender reports put picture and sound on one timeline, though the sound
	// (Opus made from AAC) leaves the server 50 ms after its picture.
	p.mu.Lock()
	video, audio := p.offsets[pwebrtc.RTPCodecTypeVideo], p.offsets[pwebrtc.RTPCodecTypeAudio]
	p.mu.Unlock()
	if skew := audio.Sub(video); video.IsZero() || audio.IsZero() || skew.Abs() > 2*time.Millisecond {
		t.Errorf("sender reports put the sound %v after the picture (reports: video %v, audio %v)", skew, !video.IsZero(), !audio.IsZero())
	}

	req, _ := http.NewRequest(http.MethodDelete, srv.HTTPURL(p.location), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %v %v", p.location, res, err)
	}
	res.Body.Close()
	srv.WaitLog(t, 5*time.Second, "viewer leave", "protocol=webrtc")
	if res, _ := post(t, srv.HTTPURL(p.location), "application/sdp", offer); res.StatusCode == http.StatusCreated {
		t.Error("a POST to a session's Location made a session")
	}
}

// A player on a lossy link gets every picture whole: its NACKs are answered from the stream's
// one packet history, and ffmpeg decodes what it got without a warning.
func TestWHEPResendsLostPacketsFromTheStreamsHistory(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/lossy"))
	testenv.WaitLive(t, srv, "live/lossy", 10*time.Second)
	m := &pwebrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Int64
	p, offer := newPeerWith(t, m, &dropFirst{nth: 25, dropped: &dropped, seen: map[uint16]bool{}}, pwebrtc.RTPCodecTypeVideo)
	p.play(t, srv.HTTPURL("/live/lossy/whep"), offer)
	time.Sleep(4 * time.Second)
	p.mu.Lock()
	stream := bytes.Clone(p.h264.Bytes())
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	warnings, pictures, err := testenv.DecodeStream(ctx, "h264", stream)
	t.Logf("%d of %d packets lost on first arrival; %d pictures", dropped.Load(), p.videoPkt.Load(), pictures)
	if dropped.Load() < 20 {
		t.Fatalf("only %d packets dropped", dropped.Load())
	}
	if err != nil || len(warnings) > 0 || pictures < testenv.MinFrames(3*time.Second) {
		t.Fatalf("ffmpeg decoded %d pictures of about 4 s (%v), warnings:\n%s", pictures, err, strings.Join(warnings, "\n"))
	}
}

// A player whose network blocks UDP plays over ICE-TCP, on the server's one TCP port.
func TestWHEPOverICETCP(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/tcp"))
	testenv.WaitLive(t, srv, "live/tcp", 10*time.Second)
	m := &pwebrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	p, offer := newPeerOn(t, loopbackPeerOver(t, pwebrtc.NetworkTypeTCP4, m, nil), pwebrtc.RTPCodecTypeVideo)
	p.play(t, srv.HTTPURL("/live/tcp/whep"), offer)
	time.Sleep(4 * time.Second)
	pair, err := p.selectedPair()
	if err != nil || pair == nil || pair.Local.Protocol != pwebrtc.ICEProtocolTCP {
		t.Fatalf("selected candidate pair %v (%v), want TCP", pair, err)
	}
	p.decodesAll(t, "h264", "over TCP")
}

// Opus passes through: a stream published with Opus (over enhanced RTMP) plays its sound.
func TestWHEPPlaysOpusSound(t *testing.T) {
	frames, err := mediatest.FMP4Frames(mediatest.SampleAV1())
	if err != nil {
		t.Fatal(err)
	}
	var opus []*relay.Frame
	for _, f := range frames {
		if f.Track.Codec == relay.CodecOpus {
			opus = append(opus, f)
		}
	}
	if len(opus) == 0 {
		t.Fatal("the AV1 clip has no Opus")
	}
	srv := testenv.Start(t, testenv.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go testenv.PublishEnhanced(ctx, t, "rtmp://"+srv.RTMPAddr+"/live#sound", frames)
	testenv.WaitLive(t, srv, "live/sound", 10*time.Second)

	p, offer := newPeer(t, pwebrtc.RTPCodecTypeAudio)
	p.play(t, srv.HTTPURL("/live/sound/whep"), offer)
	time.Sleep(3 * time.Second)
	if n := p.opus.Load(); n < 100 { // 50 packets a second of 20 ms frames
		t.Fatalf("%d Opus packets in 3 s", n)
	}
	p.mu.Lock()
	sound := bytes.Clone(p.ogg.Bytes())
	p.mu.Unlock()
	if d, warnings := decodeSound(ctx, t, sound); len(warnings) > 0 || d < 2*time.Second {
		t.Fatalf("ffmpeg decoded %v of sound of about 3 s, warnings:\n%s", d, strings.Join(warnings, "\n"))
	}
}

// AV1 and VP9 streams (over enhanced RTMP, as OBS sends them) play to players that offer
// the codec: every picture decodes without a warning (ffmpeg, from IVF), the sound too.
func TestWHEPPlaysAV1AndVP9(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	for _, tc := range []struct{ name, clip, mime string }{
		{"av1", mediatest.SampleAV1(), pwebrtc.MimeTypeAV1},
		{"vp9", mediatest.SampleVP9(), pwebrtc.MimeTypeVP9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames, err := mediatest.FMP4Frames(tc.clip)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			done := make(chan struct{})
			go func() { defer close(done); testenv.PublishEnhanced(ctx, t, srv.URL("live/"+tc.name), frames) }()
			defer func() { cancel(); <-done }()
			testenv.WaitLive(t, srv, "live/"+tc.name, 10*time.Second)
			p, offer := newPeer(t, pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio)
			p.play(t, srv.HTTPURL("/live/"+tc.name+"/whep"), offer)
			time.Sleep(4 * time.Second)
			p.mu.Lock()
			stream, ivf := bytes.Clone(p.h264.Bytes()), p.ivf
			p.mu.Unlock()
			if !ivf {
				t.Fatalf("the video came as something other than %s", tc.mime)
			}
			warnings, pictures, err := testenv.DecodeStream(ctx, "ivf", stream)
			if err != nil || len(warnings) > 0 || pictures < testenv.MinFrames(3*time.Second) {
				t.Fatalf("ffmpeg decoded %d pictures of about 4 s (%v), warnings:\n%s", pictures, err, strings.Join(warnings, "\n"))
			}
			if n := p.opus.Load(); n < 150 {
				t.Errorf("%d Opus packets in 4 s", n)
			}
		})
	}
}

// An H.265 stream without B-frames (over RTSP) plays to a player that offers H.265: every
// picture decodes without a warning. One with B-frames is refused with the reason.
func TestWHEPPlaysH265(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	srv := testenv.Start(t, testenv.Options{})
	clip := filepath.Join(t.TempDir(), "hevc.mp4")
	enc := testenv.StartProc(t, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-t", "12", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "bframes=0:keyint=30:log-level=error", "-pix_fmt", "yuv420p", clip)
	if err := enc.Wait(60 * time.Second); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, enc.Stderr())
	}
	for name, file := range map[string]string{"hevc": clip, "bframes": testenv.SampleHEVC()} {
		testenv.StartProc(t, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", file,
			"-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", srv.RTSPURL("live/"+name))
		testenv.WaitLive(t, srv, "live/"+name, 10*time.Second)
	}
	p, offer := newPeer(t, pwebrtc.RTPCodecTypeVideo)
	if res, body := post(t, srv.HTTPURL("/live/bframes/whep"), "application/sdp", offer); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "B-frames") {
		t.Fatalf("H.265 with B-frames: %s %s", res.Status, body)
	}
	p.play(t, srv.HTTPURL("/live/hevc/whep"), offer)
	time.Sleep(4 * time.Second)
	if mime := p.pc.GetTransceivers()[0].Receiver().Track().Codec().MimeType; !strings.EqualFold(mime, pwebrtc.MimeTypeH265) {
		t.Fatalf("the video came as %s", mime)
	}
	p.decodesAll(t, "hevc", "of H.265")
}

// What WHEP refuses, it refuses with the status the draft names and a reason.
func TestWHEPRefusals(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.ReadKey = "sesame" }})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/cam?key=sesame"))
	testenv.PublishSample(t, srv.URL("live/bframes?key=sesame"))
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)
	testenv.WaitLive(t, srv, "live/bframes", 10*time.Second)
	_, offer := newPeer(t, pwebrtc.RTPCodecTypeVideo)
	vp8 := &pwebrtc.MediaEngine{} // a player of VP8 alone has nothing in common with H.264
	if err := vp8.RegisterCodec(pwebrtc.RTPCodecParameters{PayloadType: 96,
		RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeVP8, ClockRate: 90000}}, pwebrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	_, vp8Only := newPeerWith(t, vp8, nil, pwebrtc.RTPCodecTypeVideo)
	url := srv.HTTPURL("/live/cam/whep")
	for _, tc := range []struct {
		name, url, contentType, body string
		hdr                          []string
		want                         int
		reason                       string
	}{
		{"no key", url, "application/sdp", offer, nil, http.StatusUnauthorized, "key"},
		{"wrong key", url, "application/sdp", offer, []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized, "key"},
		{"not SDP", url, "text/plain", offer, []string{"Authorization", "Bearer sesame"}, http.StatusUnsupportedMediaType, "application/sdp"},
		{"bad SDP", url, "application/sdp", "v=0\r\nthis is no offer\r\n", []string{"Authorization", "Bearer sesame"}, http.StatusBadRequest, "SDP"},
		{"no codec in common", url, "application/sdp", vp8Only, []string{"Authorization", "Bearer sesame"}, http.StatusUnprocessableEntity, "no codec in common"},
		{"B-frames", srv.HTTPURL("/live/bframes/whep"), "application/sdp", offer, []string{"Authorization", "Bearer sesame"}, http.StatusUnprocessableEntity, "B-frames"},
		{"not live", srv.HTTPURL("/live/none/whep"), "application/sdp", offer, []string{"Authorization", "Bearer sesame"}, http.StatusNotFound, "not live"},
		{"key as Bearer", url, "application/sdp", offer, []string{"Authorization", "Bearer sesame"}, http.StatusCreated, ""},
		{"key in the query", url + "?key=sesame", "application/sdp", offer, nil, http.StatusCreated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := post(t, tc.url, tc.contentType, tc.body, tc.hdr...)
			if res.StatusCode != tc.want || !strings.Contains(body, tc.reason) {
				t.Errorf("%s: %s, want %d\n%s", tc.name, res.Status, tc.want, body)
			}
		})
	}
	// a browser's preflight of a page of another site
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	req.Header.Set("Origin", "https://site.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusNoContent || !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %v %v", res, err)
	}
	res.Body.Close()
	// a WHIP/WHEP client's own OPTIONS (OBS): what the resource takes
	req, _ = http.NewRequest(http.MethodOptions, url, nil)
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNoContent || !strings.Contains(res.Header.Get("Allow"), "POST") {
		t.Fatalf("OPTIONS: %v %v", res, err)
	}
	res.Body.Close()
}

// decodeSound decodes Ogg Opus with ffmpeg and returns how long it lasts and ffmpeg's warnings.
func decodeSound(ctx context.Context, t *testing.T, ogg []byte) (time.Duration, []string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-progress", "pipe:1",
		"-f", "ogg", "-i", "-", "-f", "null", "-")
	cmd.Stdin = bytes.NewReader(ogg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	var d time.Duration
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "out_time_us="); ok {
			us, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			d = time.Duration(us) * time.Microsecond
		}
	}
	return d, testenv.DecoderWarnings(strings.TrimSpace(stderr.String()))
}

// A viewer holds a connection's place under the server's limit until it leaves, so offers
// (each a peer connection on the server) cannot pile up past it: 503 says so.
func TestWHEPViewersCountAgainstTheConnectionLimit(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MaxConns = 4 }})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/cam"))
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)
	_, offer := newPeer(t, pwebrtc.RTPCodecTypeVideo)
	url := srv.HTTPURL("/live/cam/whep")
	var sessions []string
	for range 5 {
		res, body := post(t, url, "application/sdp", offer)
		if res.StatusCode == http.StatusServiceUnavailable {
			if !strings.Contains(body, "limit") {
				t.Errorf("503 without a reason: %q", body)
			}
			break
		}
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("offer: %s\n%s", res.Status, body)
		}
		sessions = append(sessions, res.Header.Get("Location"))
	}
	if len(sessions) == 0 || len(sessions) == 5 {
		t.Fatalf("%d sessions under a limit of 4 connections (the publisher's and the HTTP client's among them)", len(sessions))
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.HTTPURL(sessions[0]), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %v %v", res, err)
	}
	res.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, body := post(t, url, "application/sdp", offer)
		if res.StatusCode == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the place of a deleted session was not given back: %s %s", res.Status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// patch sends a PATCH of a session with a trickle-ice-sdpfrag body.
func patch(t *testing.T, url, ifMatch, frag string) (*http.Response, string) {
	t.Helper()
	var hdr []string
	if ifMatch != "" {
		hdr = []string{"If-Match", ifMatch}
	}
	return request(t, http.MethodPatch, url, "application/trickle-ice-sdpfrag", frag, hdr...)
}

// iceLines picks an SDP's (or fragment's) first ICE credentials and its candidates.
func iceLines(sdp string) (ufrag, pwd string, candidates []string) {
	for _, l := range strings.Split(sdp, "\r\n") {
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:") && ufrag == "":
			ufrag = strings.TrimPrefix(l, "a=ice-ufrag:")
		case strings.HasPrefix(l, "a=ice-pwd:") && pwd == "":
			pwd = strings.TrimPrefix(l, "a=ice-pwd:")
		case strings.HasPrefix(l, "a=candidate:"):
			candidates = append(candidates, l)
		}
	}
	return ufrag, pwd, candidates
}

// A player may trickle its candidates after its offer (PATCH, 204) and restart ICE (PATCH
// with new credentials and If-Match: *, 200 with the server's new ones and a new ETag): the
// picture goes on over the new ICE session; a stale If-Match gets 412, a PATCH of another
// session 404.
func TestWHEPTrickleAndICERestart(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/ice"))
	testenv.WaitLive(t, srv, "live/ice", 10*time.Second)
	p, offer := newPeer(t, pwebrtc.RTPCodecTypeVideo)
	_, _, trickled := iceLines(offer)
	ufrag, pwd, _ := iceLines(offer)
	var noCandidates []string // the offer as a trickling client sends it: candidates after
	for _, l := range strings.Split(offer, "\r\n") {
		if !strings.HasPrefix(l, "a=candidate:") && l != "a=end-of-candidates" {
			noCandidates = append(noCandidates, l)
		}
	}
	res, answer := post(t, srv.HTTPURL("/live/ice/whep"), "application/sdp", strings.Join(noCandidates, "\r\n"))
	if res.StatusCode != http.StatusCreated || res.Header.Get("Accept-Patch") != "application/trickle-ice-sdpfrag" {
		t.Fatalf("offer: %s %v", res.Status, res.Header)
	}
	session, etag := srv.HTTPURL(res.Header.Get("Location")), res.Header.Get("ETag")
	if err := p.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	frag := "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
		strings.Join(trickled, "\r\n") + "\r\na=end-of-candidates\r\n"
	if res, body := patch(t, session, etag, frag); res.StatusCode != http.StatusNoContent {
		t.Fatalf("trickle: %s %s", res.Status, body)
	}
	time.Sleep(2 * time.Second)
	before := p.videoPkt.Load()
	if before == 0 {
		t.Fatal("no picture after trickling the candidates")
	}

	// ICE restart: the client's new credentials and candidates, the server's back.
	restart, err := p.pc.CreateOffer(&pwebrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	gathered := pwebrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(restart); err != nil {
		t.Fatal(err)
	}
	<-gathered
	ufrag2, pwd2, candidates2 := iceLines(p.pc.LocalDescription().SDP)
	if ufrag2 == ufrag {
		t.Fatal("pion kept its ICE credentials")
	}
	frag = "a=ice-ufrag:" + ufrag2 + "\r\na=ice-pwd:" + pwd2 + "\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
		strings.Join(candidates2, "\r\n") + "\r\na=end-of-candidates\r\n"
	if res, _ := patch(t, session, `"stale"`, frag); res.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("a stale If-Match: %s, want 412", res.Status)
	}
	if res, _ := patch(t, srv.HTTPURL("/live/ice/whep/nosuchsession"), "*", frag); res.StatusCode != http.StatusNotFound {
		t.Errorf("PATCH of no session: %s, want 404", res.Status)
	}
	res, serverFrag := patch(t, session, "*", frag)
	if res.StatusCode != http.StatusOK || res.Header.Get("ETag") == etag || res.Header.Get("Content-Type") != "application/trickle-ice-sdpfrag" {
		t.Fatalf("ICE restart: %s %v\n%s", res.Status, res.Header, serverFrag)
	}
	newUfrag, newPwd, serverCandidates := iceLines(serverFrag)
	oldUfrag, _, _ := iceLines(answer)
	if newUfrag == "" || newUfrag == oldUfrag || len(serverCandidates) == 0 {
		t.Fatalf("the server's fragment keeps its credentials or has no candidate:\n%s", serverFrag)
	}
	var answer2 []string
	for _, l := range strings.Split(answer, "\r\n") {
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			answer2 = append(answer2, "a=ice-ufrag:"+newUfrag)
		case strings.HasPrefix(l, "a=ice-pwd:"):
			answer2 = append(answer2, "a=ice-pwd:"+newPwd)
		case strings.HasPrefix(l, "a=candidate:"), l == "a=end-of-candidates":
		default:
			answer2 = append(answer2, l)
			if strings.HasPrefix(l, "a=mid:") {
				answer2 = append(answer2, serverCandidates...)
			}
		}
	}
	if err := p.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: strings.Join(answer2, "\r\n")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if n := p.videoPkt.Load() - before; n < 200 || p.pc.ConnectionState() != pwebrtc.PeerConnectionStateConnected {
		t.Fatalf("%d video packets in the 3 s after the restart, connection %s", n, p.pc.ConnectionState())
	}
	p.mu.Lock()
	stream := bytes.Clone(p.h264.Bytes())
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if warnings, pictures, err := testenv.DecodeStream(ctx, "h264", stream); err != nil || len(warnings) > 0 || pictures < testenv.MinFrames(4*time.Second) {
		t.Fatalf("ffmpeg decoded %d pictures of about 5 s (%v), warnings:\n%s", pictures, err, strings.Join(warnings, "\n"))
	}
}
