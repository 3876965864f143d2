package rtsp_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
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
	p := testenv.DialRTSP(t, srv.RTSPAddr, "live/keep")
	p.SetupAll(t)
	if res := p.Request(t, "PLAY"); res.StatusCode != base.StatusOK {
		t.Fatalf("PLAY: %d", res.StatusCode)
	}
	for range 10 {
		p.NextPacket(t, 0)
	}

	res := p.Request(t, "GET_PARAMETER")
	if res.StatusCode != base.StatusOK || res.Header["Session"] == nil || !strings.HasPrefix(res.Header["Session"][0], p.Session) {
		t.Fatalf("GET_PARAMETER: %d, Session %q; want 200 and %q", res.StatusCode, res.Header["Session"], p.Session)
	}
	if res := p.Request(t, "OPTIONS"); res.StatusCode != base.StatusOK {
		t.Fatalf("OPTIONS: %d", res.StatusCode)
	}

	if res := p.Request(t, "PAUSE"); res.StatusCode != base.StatusOK {
		t.Fatalf("PAUSE: %d", res.StatusCode)
	}
	_ = p.Conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if what, err := p.In.Read(); err == nil {
		t.Fatalf("after PAUSE the server sent %T", what)
	}
	_ = p.Conn.SetReadDeadline(time.Time{})

	if res := p.Request(t, "PLAY"); res.StatusCode != base.StatusOK {
		t.Fatalf("PLAY after PAUSE: %d", res.StatusCode)
	}
	if f := p.NextPacket(t, 0); !startsPicture(f[12:]) {
		t.Error("after PAUSE and PLAY the first video packet does not start a picture")
	}

	if res := p.Request(t, "TEARDOWN"); res.StatusCode != base.StatusOK {
		t.Fatalf("TEARDOWN: %d", res.StatusCode)
	}
	_ = p.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := p.In.Read(); err != nil {
			break // closed by the server
		}
	}
	for deadline := time.Now().Add(2 * time.Second); srv.RTSP.Viewers()["live/keep"] != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d viewers counted after TEARDOWN", srv.RTSP.Viewers()["live/keep"])
		}
	}
}
