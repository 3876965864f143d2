package relay

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	testVideo = &Track{Codec: CodecH264, ClockRate: 90000, Config: []byte{1, 100, 0, 31}}
	testAudio = &Track{Codec: CodecAAC, ClockRate: 44100, Config: []byte{0x12, 0x10}}
)

// clip makes n video frames at 30 fps with a keyframe every gop frames, each followed by an
// audio frame, as a publisher would send them.
func clip(n, gop int) []*Frame {
	var out []*Frame
	for i := range n {
		ts := time.Duration(i) * time.Second / 30
		out = append(out,
			&Frame{Track: testVideo, DTS: ts, PTS: ts + 66*time.Millisecond, Key: i%gop == 0, Payload: []byte{byte(i)}},
			&Frame{Track: testAudio, DTS: ts, PTS: ts, Key: true, Payload: []byte{byte(i), 0xa}})
	}
	return out
}

func testConfig() Config {
	c := DefaultConfig()
	c.Grace = 0
	return c
}

func mustPublish(t testing.TB, g *Registry, path string) *Publisher {
	t.Helper()
	p, err := g.Publish(path)
	if err != nil {
		t.Fatalf("publish %s: %v", path, err)
	}
	return p
}

// liveStream is a registry with a publisher on live/a, closed when the test ends.
func liveStream(t testing.TB, cfg Config) (*Registry, *Publisher, *Stream) {
	t.Helper()
	g := NewRegistry(cfg)
	t.Cleanup(g.Close)
	p := mustPublish(t, g, "live/a")
	return g, p, p.Stream()
}

func writeAll(t testing.TB, p *Publisher, frames []*Frame) {
	t.Helper()
	for _, f := range frames {
		if err := p.WriteFrame(f); err != nil {
			t.Fatalf("write frame: %v", err)
		}
	}
}

// drain reads frames until the reader would wait.
func drain(t testing.TB, r *Reader) []*Frame {
	t.Helper()
	var got []*Frame
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		f, err := r.Next(ctx)
		cancel()
		if err != nil {
			return got
		}
		got = append(got, f)
	}
}

func TestReaderGetsEveryFrameInOrder(t *testing.T) {
	g := NewRegistry(testConfig())
	defer g.Close()
	p := mustPublish(t, g, "live/a")
	s, err := g.Lookup("live/a")
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader()
	defer r.Close()
	frames := clip(55, 30) // under MaxLag: a reader that reads only now must not skip
	writeAll(t, p, frames)
	got := drain(t, r)
	if len(got) != len(frames) {
		t.Fatalf("got %d frames, want %d", len(got), len(frames))
	}
	for i := range got {
		if got[i] != frames[i] {
			t.Fatalf("frame %d: not the published frame (no copies expected)", i)
		}
	}
	if tr := s.Tracks(); len(tr) != 2 || tr[0] != testVideo || tr[1] != testAudio {
		t.Fatalf("tracks = %v, want video then audio", tr)
	}
}

func TestNewReaderStartsAtLatestKeyframe(t *testing.T) {
	_, p, s := liveStream(t, testConfig())
	writeAll(t, p, clip(75, 30)) // keyframes at video frames 0, 30, 60
	r := s.NewReader()
	defer r.Close()
	got := drain(t, r)
	if len(got) == 0 || !got[0].Key || got[0].Track != testVideo || got[0].Payload[0] != 60 {
		t.Fatalf("first frame = %+v, want the video keyframe 60", got[0])
	}
	if len(got) != 2*15 {
		t.Fatalf("got %d frames, want the 30 of the last GOP", len(got))
	}
}

func TestReaderJoiningBeforeFirstKeyframeWaitsForOne(t *testing.T) {
	_, p, s := liveStream(t, testConfig())
	frames := clip(40, 30)
	writeAll(t, p, frames[2:10]) // video without a keyframe yet
	r := s.NewReader()
	defer r.Close()
	writeAll(t, p, frames[10:])
	got := drain(t, r)
	if len(got) == 0 || !got[0].isVideoKey() {
		t.Fatalf("first frame is not a keyframe: %+v", got)
	}
}

func TestSlowReaderSkipsToKeyframeWithoutSlowingOthers(t *testing.T) {
	_, p, s := liveStream(t, testConfig())
	slow, fast := s.NewReader(), s.NewReader()
	defer slow.Close()
	defer fast.Close()
	frames := clip(300, 30) // 10 s, well past MaxLag
	var fastGot int
	for i, f := range frames {
		if err := p.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		if _, err := fast.Next(context.Background()); err != nil {
			t.Fatalf("fast reader at %d: %v", i, err)
		}
		fastGot++
	}
	if fastGot != len(frames) || fast.Dropped() != 0 {
		t.Fatalf("fast reader got %d frames, dropped %d; want all, none", fastGot, fast.Dropped())
	}
	first, err := slow.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !first.isVideoKey() || first.Payload[0] != byte(270%256) {
		t.Fatalf("slow reader resumed at %+v, want the latest keyframe (270)", first)
	}
	if slow.Dropped() != 540 {
		t.Fatalf("slow reader dropped %d, want 540", slow.Dropped())
	}
}

func TestReaderThatStaysBehindIsClosed(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSkips = 2
	g := NewRegistry(cfg)
	defer g.Close()
	p := mustPublish(t, g, "live/a")
	s, _ := g.Lookup("live/a")
	r := s.NewReader()
	defer r.Close()
	frames := clip(3000, 30)
	var err error
	// The reader takes one frame for every 200 published: it never reaches the live edge.
	for i, f := range frames {
		if werr := p.WriteFrame(f); werr != nil {
			t.Fatal(werr)
		}
		if i%200 == 199 {
			if _, err = r.Next(context.Background()); err != nil {
				break
			}
		}
	}
	if !errors.Is(err, ErrTooSlow) {
		t.Fatalf("err = %v, want ErrTooSlow", err)
	}
}

func TestMemoryIsBoundedToGOPPlusMaxLag(t *testing.T) {
	_, p, s := liveStream(t, testConfig())
	writeAll(t, p, clip(3000, 60)) // 100 s, GOP 2 s
	held := 0
	for i := range s.ring {
		if s.ring[i].Load() != nil {
			held++
		}
	}
	// GOP (2 s) or MaxLag (2 s), whichever reaches further back, plus one frame: 2 s × 60 fps.
	if held > 2*61 {
		t.Fatalf("ring holds %d frames, want about one GOP (≤ 122)", held)
	}
}

// A ReleaseRead stream holds only what its readers have not read: no GOP for readers to
// come. Its reader gets every frame, in order.
func TestReleaseReadHoldsOnlyWhatItsReaderHasNotRead(t *testing.T) {
	cfg := testConfig()
	cfg.ReleaseRead = true
	_, p, s := liveStream(t, cfg)
	r := s.NewReader()
	defer r.Close()
	held := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for i := range s.ring {
			if s.ring[i].Load() != nil {
				n++
			}
		}
		return n
	}
	frames := clip(600, 60) // GOP 2 s
	next := 0
	for i, f := range frames {
		if err := p.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 { // the reader keeps 10 frames behind, then catches up
			if n := held(); n > 11 {
				t.Fatalf("after frame %d the ring holds %d frames, want at most the 10 unread and one", i, n)
			}
			for range 10 {
				got, err := r.Next(context.Background())
				if err != nil || got != frames[next] {
					t.Fatalf("read %v (%v), want frame %d", got, err, next)
				}
				next++
			}
		}
	}
	if r.Dropped() != 0 {
		t.Fatalf("%d frames dropped", r.Dropped())
	}
}

// Lag of a ReleaseRead reader is the stream time from its oldest unread frame to the newest
// frame: zero when it has read everything.
func TestLagIsTheStreamTimeAReaderHasNotRead(t *testing.T) {
	cfg := testConfig()
	cfg.ReleaseRead = true
	_, p, s := liveStream(t, cfg)
	r := s.NewReader()
	defer r.Close()
	frames := clip(30, 30) // 1 s, 60 frames
	for _, f := range frames {
		if err := p.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if lag := r.Lag(); lag != 29*time.Second/30 {
		t.Fatalf("nothing read: lag %v, want 29/30 s", lag)
	}
	for range 30 { // the first half second
		if _, err := r.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if lag := r.Lag(); lag != 14*time.Second/30 {
		t.Fatalf("half read: lag %v, want 14/30 s", lag)
	}
	for range 30 {
		if _, err := r.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if lag := r.Lag(); lag != 0 {
		t.Fatalf("all read: lag %v", lag)
	}
}

func TestSecondPublisherIsRefused(t *testing.T) {
	g := NewRegistry(testConfig())
	defer g.Close()
	mustPublish(t, g, "live/a")
	if _, err := g.Publish("live/a"); !errors.Is(err, ErrAlreadyPublishing) {
		t.Fatalf("second publish: err = %v, want ErrAlreadyPublishing", err)
	}
}

func TestHandOverWithinGraceKeepsReadersAndTimeline(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = time.Minute
	g := NewRegistry(cfg)
	defer g.Close()
	p := mustPublish(t, g, "live/a")
	s, _ := g.Lookup("live/a")
	r := s.NewReader()
	defer r.Close()
	writeAll(t, p, clip(60, 30))
	got := drain(t, r)
	p.Close()
	if _, err := g.Lookup("live/a"); err != nil {
		t.Fatalf("stream gone during grace: %v", err)
	}
	p2 := mustPublish(t, g, "live/a")
	// Same codec config in new Track values: readers must not see a config change.
	v2 := *testVideo
	second := clip(60, 30)
	for _, f := range second {
		if f.Track == testVideo {
			f.Track = &v2
		}
	}
	writeAll(t, p2, second)
	got = append(got, drain(t, r)...)
	if len(got) != 240 {
		t.Fatalf("reader got %d frames across the hand-over, want 240", len(got))
	}
	last := map[*Track]time.Duration{}
	for i, f := range got {
		if f.Track != testVideo && f.Track != testAudio {
			t.Fatalf("frame %d has a new Track though the config did not change", i)
		}
		if d, ok := last[f.Track]; ok && f.DTS <= d {
			t.Fatalf("frame %d: DTS %v after %v, want increasing", i, f.DTS, d)
		}
		last[f.Track] = f.DTS
	}
}

func TestStreamEndsAfterGrace(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = 30 * time.Millisecond
	g := NewRegistry(cfg)
	defer g.Close()
	p := mustPublish(t, g, "live/a")
	s, _ := g.Lookup("live/a")
	r := s.NewReader()
	defer r.Close()
	writeAll(t, p, clip(3, 30))
	p.Close()
	n := 0
	var err error
	for err == nil {
		_, err = r.Next(context.Background())
		n++
	}
	if !errors.Is(err, ErrEnded) || n != 7 {
		t.Fatalf("after %d frames err = %v, want 6 frames then ErrEnded", n-1, err)
	}
	if _, err := g.Lookup("live/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after end: %v, want ErrNotFound", err)
	}
	if err := p.WriteFrame(clip(1, 1)[0]); !errors.Is(err, ErrEnded) {
		t.Fatalf("write after close: %v, want ErrEnded", err)
	}
}

func TestCloseWakesWaitingReader(t *testing.T) {
	g := NewRegistry(testConfig())
	mustPublish(t, g, "live/a")
	s, _ := g.Lookup("live/a")
	r := s.NewReader()
	errc := make(chan error)
	go func() {
		_, err := r.Next(context.Background())
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	r.Close()
	if err := <-errc; !errors.Is(err, ErrEnded) {
		t.Fatalf("err = %v, want ErrEnded", err)
	}
	g.Close()
}

func TestConcurrentReadersSeeEveryFrame(t *testing.T) {
	g := NewRegistry(testConfig())
	p := mustPublish(t, g, "live/a")
	s, _ := g.Lookup("live/a")
	frames := clip(600, 30)
	const n = 50
	var wg sync.WaitGroup
	counts := make([]int, n)
	for i := range n {
		r := s.NewReader()
		wg.Go(func() {
			defer r.Close()
			var prev *Frame
			for {
				f, err := r.Next(context.Background())
				if err != nil {
					return
				}
				if prev != nil && f.Track == prev.Track && f.DTS <= prev.DTS {
					t.Errorf("reader %d: out of order", i)
				}
				prev = f
				counts[i]++
			}
		})
	}
	for i, f := range frames {
		if err := p.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // let readers keep up as real-time ones would
		}
	}
	p.Close()
	wg.Wait()
	g.Close()
	for i, c := range counts {
		if c != len(frames) {
			t.Errorf("reader %d got %d frames, want %d", i, c, len(frames))
		}
	}
}

func TestValidatePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"live/demo", true},
		{"live/my_stream-1.hd", true},
		{"studio/cam1", true},
		{"api/x", false},
		{"static/app.css", false},
		{"debug/pprof", false},
		{"vod/clip", false},
		{"live", false},
		{"live/", false},
		{"/demo", false},
		{"live/..", false},
		{"live/a/b", false},
		{"live/cam~480p", true},
		{"live/cam~", false},
		{"live/~480p", false},
		{"live/cam~480p~x", false},
		{"live/a b", false},
		{"live/é", false},
		{"live/" + string(make([]byte, 200)), false},
	} {
		if err := ValidatePath(tc.path); (err == nil) != tc.ok {
			t.Errorf("ValidatePath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
		}
	}
}

func TestMaxStreams(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStreams = 2
	g := NewRegistry(cfg)
	defer g.Close()
	a := mustPublish(t, g, "live/a")
	mustPublish(t, g, "live/b")
	if _, err := g.Publish("live/c"); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("third stream: %v, want ErrTooManyStreams", err)
	}
	a.Close() // grace 0: gone at once, which frees a place
	mustPublish(t, g, "live/c")
}

// One goroutine serving many readers: Subscribe wakes it for frames and for the end, and Poll
// hands each reader its frames without waiting.
func TestSubscribeAndPollServeManyReadersFromOneGoroutine(t *testing.T) {
	_, p, s := liveStream(t, testConfig())
	wake := make(chan struct{}, 1)
	stop := s.Subscribe(wake)
	defer stop()
	readers := make([]*Reader, 5)
	for i := range readers {
		readers[i] = s.NewReader()
	}
	if f, err := readers[0].Poll(); f != nil || err != nil {
		t.Fatalf("Poll at the live edge = %v, %v; want nil, nil", f, err)
	}
	frames := clip(60, 30)
	go func() {
		for _, f := range frames {
			if err := p.WriteFrame(f); err != nil {
				t.Errorf("write: %v", err)
			}
			time.Sleep(100 * time.Microsecond)
		}
		p.Close()
	}()
	got := make([]int, len(readers))
	ended := 0
	deadline := time.After(5 * time.Second)
	for ended < len(readers) {
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("not woken: %d of %d readers ended, got %v", ended, len(readers), got)
		}
		ended = 0
		for i, r := range readers {
			for {
				f, err := r.Poll()
				if errors.Is(err, ErrEnded) {
					ended++
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if f == nil {
					break
				}
				if f != frames[got[i]] {
					t.Fatalf("reader %d: frame %d out of order", i, got[i])
				}
				got[i]++
			}
		}
	}
	for i, n := range got {
		if n != len(frames) {
			t.Errorf("reader %d got %d frames, want %d", i, n, len(frames))
		}
	}
	stop()
	if n := len(*s.subs.Load()); n != 0 {
		t.Errorf("%d subscriptions left after stop", n)
	}
}

// Keyframe requests reach the publisher that takes them, one a second however many viewers
// ask, and the next publisher's after a hand-over.
func TestKeyframeRequestsReachThePublisherOnceASecond(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = time.Minute
	g, p, s := liveStream(t, cfg)
	s.RequestKeyframe() // nobody to ask: nothing happens
	s.keyAsked.Store(0)
	var asked atomic.Int64
	p.OnKeyframeRequest(func() { asked.Add(1) })
	for range 100 {
		s.RequestKeyframe()
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("100 requests at once asked %d times, want 1", n)
	}
	p.Close()
	p2 := mustPublish(t, g, "live/a")
	var asked2 atomic.Int64
	p2.OnKeyframeRequest(func() { asked2.Add(1) })
	s.keyAsked.Store(time.Now().Add(-keyRequestGap).UnixNano())
	s.RequestKeyframe()
	if asked.Load() != 1 || asked2.Load() != 1 {
		t.Fatalf("after the hand-over: the first publisher asked %d, the second %d; want 1 and 1", asked.Load(), asked2.Load())
	}
}
