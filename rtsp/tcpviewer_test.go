package rtsp_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/conn"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/sdp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/internal/testenv"
)

// A player that sets up one media of two gets that media's packets on the channel it asked
// for, with none missing, and its sender reports, and nothing of the other media. gortsplib's
// client asks for channels 0-1 for the first media it sets up, so audio alone needs new
// framing in front of the packets; video alone goes out as the feed framed it.
func TestTCPSessionOfOneMediaGetsOnlyItsPackets(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/one")
	for _, typ := range []description.MediaType{description.MediaTypeAudio, description.MediaTypeVideo} {
		t.Run(string(typ), func(t *testing.T) {
			got := playOneMedia(t, srv.RTSPURL("live/one"), typ, 3*time.Second)
			if got.others != 0 || got.gaps != 0 {
				t.Errorf("%d packets of another media, %d gaps in %d packets", got.others, got.gaps, got.packets)
			}
			want := 3 * 30 // video: ≥ 1 packet a frame; AAC at 44.1 or 48 kHz: ~43-47 a second
			if got.packets < want {
				t.Errorf("%d packets in 3 s, want ≥ %d", got.packets, want)
			}
			if got.reports == 0 {
				t.Error("no RTCP sender report")
			}
			if typ == description.MediaTypeVideo && !got.startsWithPicture {
				t.Error("the first video packet does not start a picture")
			}
		})
	}
}

type oneMedia struct {
	packets, gaps, others, reports int
	startsWithPicture              bool
}

func playOneMedia(t *testing.T, rawURL string, typ description.MediaType, d time.Duration) oneMedia {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var medi *description.Media
	for _, m := range desc.Medias {
		if m.Type == typ {
			medi = m
		}
	}
	if medi == nil {
		t.Fatalf("no %s media in the SDP", typ)
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		got  oneMedia
		last = -1
	)
	c.OnPacketRTPAny(func(m *description.Media, _ format.Format, p *rtp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		if m != medi {
			got.others++
			return
		}
		if last < 0 {
			got.startsWithPicture = startsPicture(p.Payload)
		} else if p.SequenceNumber != uint16(last+1) {
			got.gaps++
		}
		last = int(p.SequenceNumber)
		got.packets++
	})
	c.OnPacketRTCPAny(func(_ *description.Media, p rtcp.Packet) {
		if _, ok := p.(*rtcp.SenderReport); ok {
			mu.Lock()
			got.reports++
			mu.Unlock()
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	mu.Lock()
	defer mu.Unlock()
	return got
}

// ffmpeg asked for audio alone (interleaved 0-1, where the feed has video) decodes it with
// no warning.
func TestFFmpegDecodesAudioAloneOverTCP(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/audio"))
	testenv.WaitLive(t, srv, "live/audio", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/audio"), 4*time.Second,
		"-rtsp_transport", "tcp", "-allowed_media_types", "audio")
	if d.Err != nil || d.Stderr != "" {
		t.Fatalf("exit %v, stderr:\n%s", d.Err, d.Stderr)
	}
	if len(d.Progress) == 0 || d.Progress[len(d.Progress)-1].Media < 3500*time.Millisecond {
		t.Fatalf("decoded too little audio: %+v", d.Progress[max(len(d.Progress)-1, 0):])
	}
}

// After PLAY the session answers keep-alives with its session id, stops sending on PAUSE,
// starts again at a keyframe on PLAY, and ends on TEARDOWN.
func TestTCPSessionAnswersKeepAlivesPauseAndTeardown(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/keep")
	p := dialPlayer(t, srv.RTSPAddr, "live/keep")
	p.expectFrames(t, 10)

	res := p.request(t, "GET_PARAMETER")
	if res.StatusCode != base.StatusOK || res.Header["Session"] == nil || !strings.HasPrefix(res.Header["Session"][0], p.session) {
		t.Fatalf("GET_PARAMETER: %d, Session %q; want 200 and %q", res.StatusCode, res.Header["Session"], p.session)
	}
	if res := p.request(t, "OPTIONS"); res.StatusCode != base.StatusOK {
		t.Fatalf("OPTIONS: %d", res.StatusCode)
	}

	if res := p.request(t, "PAUSE"); res.StatusCode != base.StatusOK {
		t.Fatalf("PAUSE: %d", res.StatusCode)
	}
	_ = p.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if what, err := p.in.Read(); err == nil {
		t.Fatalf("after PAUSE the server sent %T", what)
	}
	_ = p.nc.SetReadDeadline(time.Time{})

	if res := p.request(t, "PLAY"); res.StatusCode != base.StatusOK {
		t.Fatalf("PLAY after PAUSE: %d", res.StatusCode)
	}
	if f := p.nextVideo(t); !startsPicture(f[12:]) {
		t.Error("after PAUSE and PLAY the first video packet does not start a picture")
	}

	if res := p.request(t, "TEARDOWN"); res.StatusCode != base.StatusOK {
		t.Fatalf("TEARDOWN: %d", res.StatusCode)
	}
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := p.in.Read(); err != nil {
			break // closed by the server
		}
	}
	for deadline := time.Now().Add(2 * time.Second); srv.RTSP.Viewers()["live/keep"] != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d viewers counted after TEARDOWN", srv.RTSP.Viewers()["live/keep"])
		}
	}
}

// player is a bare RTSP client over TCP: requests by hand, replies and packets read with
// gortsplib's parser.
type player struct {
	nc      net.Conn
	in      *conn.Conn
	url     string
	session string
	cseq    int
}

func dialPlayer(t *testing.T, addr, path string) *player {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	p := &player{nc: nc, in: conn.NewConn(bufio.NewReader(nc), nc), url: "rtsp://" + addr + "/" + path}
	res := p.request(t, "DESCRIBE", "Accept: application/sdp")
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(res.Body); err != nil {
		t.Fatal(err)
	}
	var desc description.Session
	if err := desc.Unmarshal(&sd); err != nil {
		t.Fatal(err)
	}
	for i, m := range desc.Medias {
		res := p.request(t, "SETUP "+p.url+"/"+m.Control, fmt.Sprintf("Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d", 2*i, 2*i+1))
		if res.StatusCode != base.StatusOK {
			t.Fatalf("SETUP: %d", res.StatusCode)
		}
		p.session, _, _ = strings.Cut(res.Header["Session"][0], ";")
	}
	if res := p.request(t, "PLAY"); res.StatusCode != base.StatusOK {
		t.Fatalf("PLAY: %d", res.StatusCode)
	}
	return p
}

// request sends method (with its URL if it has none) and returns the reply, skipping the
// packets that come before it.
func (p *player) request(t *testing.T, method string, hdr ...string) *base.Response {
	t.Helper()
	p.cseq++
	if !strings.Contains(method, " ") {
		method += " " + p.url
	}
	if p.session != "" {
		hdr = append(hdr, "Session: "+p.session)
	}
	req := fmt.Sprintf("%s RTSP/1.0\r\nCSeq: %d\r\n", method, p.cseq)
	for _, h := range hdr {
		req += h + "\r\n"
	}
	if _, err := p.nc.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = p.nc.SetReadDeadline(time.Time{}) }()
	for {
		what, err := p.in.Read()
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if res, ok := what.(*base.Response); ok {
			if got := res.Header["CSeq"]; len(got) != 1 || got[0] != fmt.Sprint(p.cseq) {
				t.Fatalf("%s: reply with CSeq %q, want %d", method, got, p.cseq)
			}
			return res
		}
	}
}

func (p *player) expectFrames(t *testing.T, n int) {
	t.Helper()
	for range n {
		p.nextVideo(t)
	}
}

// nextVideo returns the next RTP packet on channel 0.
func (p *player) nextVideo(t *testing.T) []byte {
	t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = p.nc.SetReadDeadline(time.Time{}) }()
	for {
		what, err := p.in.Read()
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := what.(*base.InterleavedFrame); ok && f.Channel == 0 && len(f.Payload) > 12 {
			return f.Payload
		}
	}
}
