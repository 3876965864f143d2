package relay

import (
	"context"
	"errors"
	"testing"
	"time"
)

// standbyClip is a standby that writes a frame of its own video track every 10 ms until a
// write fails, and says when it stopped.
func standbyClip(slate *Track, stopped chan<- error) Standby {
	return func(ctx context.Context, s *Stream, pub *Publisher) {
		for i := 0; ; i++ {
			ts := time.Duration(i) * 10 * time.Millisecond
			err := pub.WriteFrame(&Frame{Track: slate, DTS: ts, PTS: ts, Key: i%10 == 0, Payload: []byte{0xee}})
			if err != nil {
				stopped <- err
				return
			}
			select {
			case <-ctx.Done():
				stopped <- ctx.Err()
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// A publisher away past the grace window leaves the standby playing to the same readers; the
// next publisher's frames are held back until its first keyframe, where it takes over with
// timestamps that run on, and the standby stops.
func TestStandbyPlaysUntilAPublisherTakesOverAtItsKeyframe(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = 20 * time.Millisecond
	g := NewRegistry(cfg)
	defer g.Close()
	slate := &Track{Codec: CodecH264, ClockRate: 90000, Config: []byte{1, 66, 0, 30}}
	stopped := make(chan error, 1)
	g.SetStandby(func(path string) Standby {
		if path != "live/a" {
			return nil
		}
		return standbyClip(slate, stopped)
	})
	p := mustPublish(t, g, "live/a")
	s := p.Stream()
	r := s.NewReader()
	defer r.Close()
	writeAll(t, p, clip(30, 30))
	p.Close()
	time.Sleep(150 * time.Millisecond)
	got := polled(t, r) // as it goes: a reader that lags skips to the latest keyframe
	if st := s.Stats(); st.Publishing || !st.Standby {
		t.Fatalf("stats past grace: publishing %v, standby %v; want the standby", st.Publishing, st.Standby)
	}
	if err := s.publishingErr(); err != nil {
		t.Fatal(err)
	}
	p2 := mustPublish(t, g, "live/a")
	if _, err := g.Publish("live/a"); !errors.Is(err, ErrAlreadyPublishing) {
		t.Fatalf("a third publisher while one waits to take over: %v, want ErrAlreadyPublishing", err)
	}
	second := clip(60, 30)[50:] // starts mid-GOP: five frames and their audio before a keyframe
	writeAll(t, p2, second)
	select {
	case err := <-stopped:
		if !errors.Is(err, ErrEnded) && !errors.Is(err, context.Canceled) {
			t.Fatalf("standby stopped with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the standby still plays after the publisher's keyframe")
	}
	got = append(got, polled(t, r)...)
	var slates, before int
	last := map[*Track]time.Duration{}
	for i, f := range got {
		if d, ok := last[f.Track]; ok && f.DTS <= d {
			t.Fatalf("frame %d: DTS %v after %v, want increasing", i, f.DTS, d)
		}
		last[f.Track] = f.DTS
		switch {
		case f.Track == slate:
			slates++
		case slates > 0 && before == 0:
			if !f.isVideoKey() {
				t.Fatalf("the first frame after the standby is not a keyframe: %+v", f)
			}
			before = i
		}
	}
	if slates < 5 || before == 0 {
		t.Fatalf("reader saw %d standby frames and the publisher back at %d; want both", slates, before)
	}
	if n := len(got) - before; n != len(second)-10 {
		t.Errorf("reader got %d of the publisher's frames after the standby, want %d (from its keyframe)", n, len(second)-10)
	}
	if st := s.Stats(); !st.Publishing || st.Standby {
		t.Errorf("stats after the take-over: publishing %v, standby %v", st.Publishing, st.Standby)
	}
}

// polled reads the frames a reader has now (the standby keeps writing: drain would not end).
func polled(t *testing.T, r *Reader) []*Frame {
	t.Helper()
	var got []*Frame
	for {
		f, err := r.Poll()
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			return got
		}
		got = append(got, f)
	}
}

// publishingErr says what is wrong with a stream that should have a standby on.
func (s *Stream) publishingErr() error {
	if !s.publishing() {
		return errors.New("the stream has no publisher past grace")
	}
	if s.ended.Load() {
		return errors.New("the stream ended")
	}
	return nil
}

// A standby that gives up ends the stream; paths the standby has nothing for end after the
// grace window as without one; Close stops a standby that plays.
func TestStandbyThatStopsEndsTheStream(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = 10 * time.Millisecond
	g := NewRegistry(cfg)
	gaveUp := make(chan struct{})
	g.SetStandby(func(path string) Standby {
		switch path {
		case "live/quits":
			return func(context.Context, *Stream, *Publisher) { close(gaveUp) }
		case "live/plays":
			return standbyClip(testVideo, make(chan error, 1))
		}
		return nil
	})
	for _, path := range []string{"live/quits", "live/none", "live/plays"} {
		p := mustPublish(t, g, path)
		writeAll(t, p, clip(3, 30))
		p.Close()
	}
	<-gaveUp
	deadline := time.Now().Add(5 * time.Second)
	for _, path := range []string{"live/quits", "live/none"} {
		for {
			if _, err := g.Lookup(path); errors.Is(err, ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still live", path)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := g.Lookup("live/plays"); err != nil {
		t.Fatalf("live/plays with its standby: %v", err)
	}
	done := make(chan struct{})
	go func() { g.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a standby playing")
	}
}
