package rtsp_test

import (
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
)

// A session that joins right at a keyframe, before any audio after it has come, still gets
// an RTP-Info entry for the audio, with the RTP time of the instant the video starts at.
// Without it ffmpeg takes its first audio packet as audio's start and, at the first sender
// report, moves audio back by the gap: "non monotonically increasing dts ... stream 1", the
// flake of TestHEVCPublishedOverRTSPAndSRTPlaysEverywhere under load.
func TestSessionJoiningBeforeTheAudioGetsRTPInfoForEveryMedia(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	clip := testenv.HEVCFrames(t)
	for _, transport := range []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP} {
		t.Run(transport.String(), func(t *testing.T) {
			path := "live/info" + transport.String()
			pub, err := srv.Relays.Publish(path)
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			frames := make([]*relay.Frame, len(clip)) // WriteFrame rebases them: a copy per stream
			for i, f := range clip {
				c := *f
				frames[i] = &c
			}
			k := secondKeyframe(t, frames)
			for _, f := range frames[:k+1] { // the keyframe is the last frame in the stream
				if err := pub.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			// The feed packetizes the keyframe on a goroutine of its own: a first player's
			// picture says it has (a fixed 300 ms was too short on a busy machine).
			startPlayer(t, srv.RTSPURL(path), gortsplib.ProtocolTCP).waitFor(t, description.MediaTypeVideo)
			p := startPlayer(t, srv.RTSPURL(path), transport)
			var info headers.RTPInfo
			if err := info.Unmarshal(p.res.Header["RTP-Info"]); err != nil {
				t.Fatalf("RTP-Info %q: %v", p.res.Header["RTP-Info"], err)
			}
			for _, f := range frames[k+1 : k+60] {
				if err := pub.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			firstAudio := frames[k+1:][firstOf(frames[k+1:], relay.CodecAAC)]
			want := codec.Ticks(firstAudio.PTS, int64(firstAudio.Track.ClockRate)) -
				codec.Ticks(frames[k].PTS, int64(firstAudio.Track.ClockRate))
			got := p.firsts(t)
			if len(info) != len(got) {
				t.Fatalf("RTP-Info %q names %d medias, the session set up %d", p.res.Header["RTP-Info"], len(info), len(got))
			}
			for _, e := range info {
				m := p.media(e.URL)
				if m == nil || e.Timestamp == nil {
					t.Fatalf("RTP-Info entry %+v: no media or no rtptime", e)
				}
				d := int64(int32(got[m] - *e.Timestamp))
				if m.Type == description.MediaTypeAudio && (d < want-1 || d > want+1) {
					t.Errorf("first audio packet %d ticks after RTP-Info's rtptime, want %d (its PTS after the keyframe's)", d, want)
				}
				if m.Type == description.MediaTypeVideo && d != 0 {
					t.Errorf("first video packet %d ticks after RTP-Info's rtptime, want 0", d)
				}
			}
		})
	}
}

func secondKeyframe(t *testing.T, frames []*relay.Frame) int {
	t.Helper()
	n := 0
	for i, f := range frames {
		if f.Key && f.Track.Codec.IsVideo() {
			if n++; n == 2 {
				return i
			}
		}
	}
	t.Fatal("the clip has one keyframe")
	return 0
}

func firstOf(frames []*relay.Frame, c relay.Codec) int {
	for i, f := range frames {
		if f.Track.Codec == c {
			return i
		}
	}
	return -1
}

type infoPlayer struct {
	c     gortsplib.Client
	desc  *description.Session
	res   *base.Response
	mu    sync.Mutex
	first map[*description.Media]uint32
}

func startPlayer(t *testing.T, rawURL string, transport gortsplib.Protocol) *infoPlayer {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &infoPlayer{first: map[*description.Media]uint32{}}
	p.c = gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &transport}
	if err := p.c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.c.Close)
	if p.desc, _, err = p.c.Describe(u); err != nil {
		t.Fatal(err)
	}
	if err := p.c.SetupAll(p.desc.BaseURL, p.desc.Medias); err != nil {
		t.Fatal(err)
	}
	p.c.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, ok := p.first[m]; !ok {
			p.first[m] = pkt.Timestamp
		}
	})
	if p.res, err = p.c.Play(nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// firsts waits for a packet of every media and returns the RTP time of each one's first.
func (p *infoPlayer) firsts(t *testing.T) map[*description.Media]uint32 {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		n := len(p.first)
		p.mu.Unlock()
		if n == len(p.desc.Medias) {
			break
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.first) != len(p.desc.Medias) {
		t.Fatalf("packets of %d of %d medias in 5 s", len(p.first), len(p.desc.Medias))
	}
	return maps.Clone(p.first)
}

// waitFor waits for the first packet of a media of type typ.
func (p *infoPlayer) waitFor(t *testing.T, typ description.MediaType) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		for m := range p.first {
			if m.Type == typ {
				p.mu.Unlock()
				return
			}
		}
		p.mu.Unlock()
	}
	t.Fatalf("no %s packet in 5 s", typ)
}

func (p *infoPlayer) media(url string) *description.Media {
	for _, m := range p.desc.Medias {
		if strings.HasSuffix(url, "/"+m.Control) {
			return m
		}
	}
	return nil
}
