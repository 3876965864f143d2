package rtsp_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtsp"
)

func TestFFprobeOverTCPSeesH264720pAndAAC(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/probe"))
	testenv.WaitLive(t, srv, "live/probe", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := testenv.FFprobeStreams(ctx, t, srv.RTSPURL("live/probe"), "-rtsp_transport", "tcp")
	if !slices.Equal(got, []string{"h264 1280x720", "aac"}) {
		t.Fatalf("ffprobe streams = %q, want h264 1280x720 and aac", got)
	}
}

func TestFFmpegDecodesEveryFrameOverUDPAndTCP(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/both"))
	testenv.WaitLive(t, srv, "live/both", 10*time.Second)
	const window = 6 * time.Second
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/both"), window, "-rtsp_transport", transport)
			if d.Err != nil || d.Stderr != "" {
				t.Fatalf("exit %v, stderr:\n%s", d.Err, d.Stderr)
			}
			if d.Frames < testenv.MinFrames(window) {
				t.Fatalf("decoded %d frames of %v, want ≥ %d", d.Frames, window, testenv.MinFrames(window))
			}
		})
	}
}

func TestGStreamerDecodes90PicturesWithoutAWarning(t *testing.T) {
	testenv.NeedTools(t, "gst-launch-1.0")
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/gst"))
	testenv.WaitLive(t, srv, "live/gst", 10*time.Second)
	for _, protocols := range []string{"tcp", "udp"} {
		t.Run(protocols, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			w, err := testenv.GstDecodeRTSP(ctx, t, srv.RTSPURL("live/gst"), protocols, 90, 120)
			if err != nil || len(w) > 0 {
				t.Fatalf("gstreamer did not decode 90 pictures cleanly: %v\n%s", err, strings.Join(w, "\n"))
			}
		})
	}
}

func TestPathThatIsNotLiveAnswers404(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	u, err := base.ParseURL(srv.RTSPURL("live/nobody"))
	if err != nil {
		t.Fatal(err)
	}
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, res, err := c.Describe(u)
	if err == nil || res == nil || res.StatusCode != 404 {
		t.Fatalf("describe of a path that is not live: %v, %v; want 404", res, err)
	}
}

// rtpReader is a Go RTSP client counting packets and checking that none is missing.
type rtpReader struct {
	c        gortsplib.Client
	mu       sync.Mutex
	lastSeq  map[*description.Media]uint16
	packets  int
	gaps     int
	stall    time.Duration // sleep this long in the first packet callback
	firstAt  time.Time     // first video packet that starts a decodable picture
	arrivals []time.Time   // of every packet
}

func (r *rtpReader) start(t *testing.T, rawURL string) {
	t.Helper()
	tcp := gortsplib.ProtocolTCP
	r.c.Protocol = &tcp
	r.lastSeq = map[*description.Media]uint16{}
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	r.c.Scheme, r.c.Host = u.Scheme, u.Host
	if err := r.c.Start(); err != nil {
		t.Fatal(err)
	}
	desc, _, err := r.c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	r.c.OnPacketRTPAny(r.onPacket)
}

func (r *rtpReader) onPacket(m *description.Media, _ format.Format, p *rtp.Packet) {
	if r.stall > 0 {
		time.Sleep(r.stall)
		r.stall = 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if last, ok := r.lastSeq[m]; ok && p.SequenceNumber != last+1 {
		r.gaps++
	}
	r.lastSeq[m] = p.SequenceNumber
	r.packets++
	r.arrivals = append(r.arrivals, time.Now())
	if r.firstAt.IsZero() && m.Type == description.MediaTypeVideo && startsPicture(p.Payload) {
		r.firstAt = time.Now()
	}
}

// startsPicture reports whether an RTP/H.264 payload opens a decodable picture: SPS, an IDR,
// or an aggregate or fragment that starts with one.
func startsPicture(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch typ := b[0] & 0x1f; typ {
	case 5, 7:
		return true
	case 24: // STAP-A: first aggregated unit
		return len(b) > 3 && (b[3]&0x1f == 7 || b[3]&0x1f == 5)
	case 28: // FU-A start of an IDR
		return b[1]&0x80 != 0 && b[1]&0x1f == 5
	}
	return false
}

// between counts the packets that arrived from from to to.
func (r *rtpReader) between(from, to time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.arrivals {
		if !a.Before(from) && a.Before(to) {
			n++
		}
	}
	return n
}

func (r *rtpReader) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.packets, r.gaps
}

func TestFiftyReadersGetEveryPacketAndAStalledOneHoldsNobodyUp(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/fifty")
	readers := make([]*rtpReader, 50)
	for i := range readers {
		r := &rtpReader{}
		if i == 0 {
			r.stall = 6 * time.Second // longer than the test: it never catches up
		}
		r.start(t, srv.RTSPURL("live/fifty"))
		readers[i] = r
	}
	for _, r := range readers {
		if _, err := r.c.Play(nil); err != nil {
			t.Fatal(err)
		}
	}
	// The readers joined one after another, each with the GOP of its moment; from when all
	// play to the first close, every live packet goes to all of them.
	from := time.Now().Add(time.Second)
	time.Sleep(4500 * time.Millisecond)
	to := time.Now().Add(-500 * time.Millisecond)
	for _, r := range readers {
		r.c.Close()
	}
	var counts []int
	for i, r := range readers[1:] {
		n, gaps := r.counts()
		if gaps != 0 {
			t.Errorf("reader %d: %d gaps in %d packets", i+1, gaps, n)
		}
		counts = append(counts, r.between(from, to))
	}
	sort.Ints(counts)
	// Counts in the common window differ only by packets in flight at its edges.
	if lo, hi := counts[0], counts[len(counts)-1]; lo < hi*95/100 || hi < 3*30 {
		t.Errorf("packets per reader in the common 3 s from %d to %d; want all about equal and ≥ 90", lo, hi)
	}
	stalled, _ := readers[0].counts()
	t.Logf("readers got %d-%d packets in the common window; the stalled one %d in all", counts[0], counts[len(counts)-1], stalled)
}

func TestJoiningSessionGetsAPictureAtOnce(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/join")
	var waits []time.Duration
	for i := range 10 {
		time.Sleep(time.Duration(90+i*37) * time.Millisecond) // join at different points of the GOP
		r := &rtpReader{}
		r.start(t, srv.RTSPURL("live/join"))
		start := time.Now()
		if _, err := r.c.Play(nil); err != nil {
			t.Fatal(err)
		}
		for r.firstPicture().IsZero() && time.Since(start) < 3*time.Second {
			time.Sleep(time.Millisecond)
		}
		if at := r.firstPicture(); !at.IsZero() {
			waits = append(waits, at.Sub(start))
		}
		r.c.Close()
	}
	if len(waits) != 10 {
		t.Fatalf("%d of 10 sessions got a picture within 3 s", len(waits))
	}
	slices.Sort(waits)
	median := waits[len(waits)/2]
	t.Logf("PLAY to first decodable picture: median %v, max %v (GOP is 1 s)", median, waits[len(waits)-1])
	if median > 150*time.Millisecond {
		t.Errorf("median PLAY to first picture %v; want the GOP cache to make it immediate", median)
	}
}

func (r *rtpReader) firstPicture() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstAt
}

func TestPublisherReturningWithinGraceKeepsSessionAndLeavingEndsIt(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.Grace = 3 * time.Second
	srv := testenv.Start(t, testenv.Options{Relay: cfg})
	first := testenv.PublishSample(t, srv.URL("live/back"))
	testenv.WaitLive(t, srv, "live/back", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	results := map[string]chan testenv.Decode{}
	playing := time.Now()
	for _, transport := range []string{"udp", "tcp"} {
		res := make(chan testenv.Decode, 1)
		results[transport] = res
		go func() {
			res <- testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/back"), time.Minute, "-rtsp_transport", transport)
		}()
	}
	time.Sleep(3 * time.Second)
	first.Kill()
	time.Sleep(time.Second)
	second := testenv.PublishSample(t, srv.URL("live/back"))
	time.Sleep(3 * time.Second)
	second.Kill() // for good this time: the grace window passes and the sessions end
	ended := time.Now()
	for transport, res := range results {
		d := <-res
		if d.Err != nil || d.Stderr != "" {
			t.Errorf("%s: exit %v, stderr:\n%s", transport, d.Err, d.Stderr)
		}
		if took := time.Since(ended); took > cfg.Grace+5*time.Second {
			t.Errorf("%s player ended %v after the publisher; want about the grace window", transport, took)
		}
		// 3 s before the outage and 3 s after it, less the joins' keyframe waits.
		if d.Frames < testenv.MinFrames(5*time.Second) {
			t.Errorf("%s player decoded %d frames across the hand-over, want ≥ %d", transport, d.Frames, testenv.MinFrames(5*time.Second))
		}
		if stall := d.LongestStall(ended.Sub(playing)); stall > 2500*time.Millisecond {
			t.Errorf("%s player stalled %v across a 1 s outage", transport, stall)
		}
	}
}

// A session that is not sent the current GOP (here: none is, over UDP) waits for the next
// keyframe and starts with it: started mid-GOP, a decoder sees pictures whose references it
// never got and complains until the next keyframe (gstreamer: "decode_slice_header error").
func TestSessionWithoutTheGOPStartsAtTheNextKeyframe(t *testing.T) {
	cfg := rtsp.DefaultConfig()
	cfg.RTPPort, cfg.RTCPPort = testenv.FreeUDPPair(t)
	cfg.UDPReplayBytes = 0
	srv := testenv.Start(t, testenv.Options{RTSP: &cfg})
	testenv.PublishSample(t, srv.URL("live/gop"))
	testenv.WaitLive(t, srv, "live/gop", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for i := range 3 { // joins at three points of the 1 s GOP
		time.Sleep(time.Duration(300+i*200) * time.Millisecond)
		w, err := testenv.GstDecodeRTSP(ctx, t, srv.RTSPURL("live/gop"), "udp", 60, 90)
		if err != nil || len(w) > 0 {
			t.Fatalf("join %d: %v, %d warnings:\n%s", i, err, len(w), strings.Join(w[:min(len(w), 20)], "\n"))
		}
	}
	const window = 3 * time.Second
	d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/gop"), window, "-rtsp_transport", "udp")
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(window) {
		t.Fatalf("ffmpeg: %d frames, exit %v, stderr:\n%s", d.Frames, d.Err, d.Stderr)
	}
}

// Players that set up over UDP at the same moment: gortsplib v5.6.4 raced on the sessions'
// transports (see Server.holdSetup); under -race this test fails without the hold.
func TestConcurrentUDPSetupsDoNotRace(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/setup")
	u, err := base.ParseURL(srv.RTSPURL("live/setup"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			udp := gortsplib.ProtocolUDP
			c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &udp}
			if err := c.Start(); err != nil {
				errs <- err
				return
			}
			defer c.Close()
			desc, _, err := c.Describe(u)
			if err == nil {
				err = c.SetupAll(desc.BaseURL, desc.Medias)
			}
			if err == nil {
				_, err = c.Play(nil)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
