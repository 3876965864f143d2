package relay

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// doubler derives one frame of its own track per video frame of the source, and counts its
// End.
type doubler struct {
	out   *Publisher
	track *Track
	ended atomic.Int32
}

func (d *doubler) Frame(_ context.Context, f *Frame) error {
	if !f.Track.Codec.IsVideo() {
		return nil
	}
	return d.out.WriteFrame(&Frame{Track: d.track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: append(f.Payload, f.Payload...)})
}

func (d *doubler) End() { d.ended.Add(1) }

func TestDeriveMakesOneStreamPerSourceReadLikeAnyOther(t *testing.T) {
	g, p, s := liveStream(t, testConfig())
	writeAll(t, p, clip(45, 30)) // a keyframe at 0 and 30
	made := 0
	d := &Derive[*doubler]{TrackWait: time.Second, Label: "test", New: func(src *Stream, tracks []*Track, out *Publisher) (*doubler, error) {
		made++
		return &doubler{out: out, track: &Track{Codec: CodecRTP}}, nil
	}}
	defer d.Close()
	a, err := d.Get(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Get(context.Background(), s)
	if err != nil || a != b || made != 1 {
		t.Fatalf("a second viewer got %p (err %v), the first %p, %d derived: want one shared", b, err, a, made)
	}
	// The deriver read the source from its latest keyframe: a reader of the derived stream
	// starts at the derived keyframe that came of it, the frame's payload doubled.
	r := a.Stream().NewReader()
	defer r.Close()
	waitFor(t, func() bool { return a.Stream().Stats().Frames >= 15 })
	got := drain(t, r)
	if len(got) != 15 || !got[0].Key || len(got[0].Payload) != 2 || got[0].Payload[0] != 30 {
		t.Fatalf("derived reader got %d frames, first %+v: want 15 from the keyframe of source frame 30", len(got), got[0])
	}

	p.Close() // grace 0: the source ends, and its derived stream with it
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrEnded) {
		t.Fatalf("derived reader after its source ended: %v, want ErrEnded", err)
	}
	waitFor(t, func() bool { return d.Len() == 0 })
	if n := a.Deriver.ended.Load(); n != 1 {
		t.Fatalf("End called %d times, want 1", n)
	}

	p2 := mustPublish(t, g, "live/a") // the same path again: a new derived stream
	defer p2.Close()
	writeAll(t, p2, clip(1, 30))
	c, err := d.Get(context.Background(), p2.Stream())
	if err != nil || c == a {
		t.Fatalf("the path published again: %v, same derived stream %v", err, c == a)
	}
	d.Close()
	if _, err := d.Get(context.Background(), p2.Stream()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	if c.Deriver.ended.Load() != 1 {
		t.Fatal("Close returned before the deriver ended")
	}
}

func TestDeriveRefusesASourceItCannotDerive(t *testing.T) {
	_, p, s := liveStream(t, testConfig())
	writeAll(t, p, clip(1, 30))
	d := &Derive[*doubler]{TrackWait: time.Second, New: func(*Stream, []*Track, *Publisher) (*doubler, error) {
		return nil, errors.New("no track it carries")
	}}
	defer d.Close()
	for range 2 { // the derived path was let go: the second try fails the same way
		if _, err := d.Get(context.Background(), s); err == nil || err.Error() != "no track it carries" {
			t.Fatalf("Get: %v, want the deriver's error", err)
		}
	}
}
