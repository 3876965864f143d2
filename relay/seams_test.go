package relay

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingWorker counts the frames it reads until its stream or context ends.
type countingWorker struct {
	r      *Reader
	frames atomic.Int64
	ended  chan struct{}
}

func (w *countingWorker) Run(ctx context.Context) {
	defer close(w.ended)
	defer w.r.Close()
	for {
		if _, err := w.r.Next(ctx); err != nil {
			return
		}
		w.frames.Add(1)
	}
}

func newCounting(s *Stream, _ []*Track) (*countingWorker, error) {
	return &countingWorker{r: s.NewReader(), ended: make(chan struct{})}, nil
}

func TestOutputsRunOneWorkerPerStreamUntilItEnds(t *testing.T) {
	g, p, s := liveStream(t, testConfig())
	writeAll(t, p, clip(2, 30))
	o := &Outputs[*countingWorker]{New: newCounting, TrackWait: time.Second, Label: "test"}
	defer o.Close()

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		found []*countingWorker
	)
	for range 20 {
		wg.Go(func() {
			w, err := o.Get(context.Background(), s)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			found = append(found, w)
			mu.Unlock()
		})
	}
	wg.Wait()
	if slices.ContainsFunc(found, func(w *countingWorker) bool { return w != found[0] }) {
		t.Fatal("viewers of one stream got different workers")
	}
	if o.Len() != 1 {
		t.Fatalf("%d workers run, want 1", o.Len())
	}

	p.Close() // grace 0: the stream ends
	<-found[0].ended
	waitFor(t, func() bool { return o.Len() == 0 })

	p2 := mustPublish(t, g, "live/a")
	defer p2.Close()
	writeAll(t, p2, clip(1, 30))
	w2, err := o.Get(context.Background(), p2.Stream())
	if err != nil {
		t.Fatal(err)
	}
	if w2 == found[0] {
		t.Fatal("a stream published again got the old stream's worker")
	}
}

func TestOutputsCloseStopsWorkersAndRefusesNewOnes(t *testing.T) {
	_, p, s := liveStream(t, testConfig())
	writeAll(t, p, clip(1, 30))
	o := &Outputs[*countingWorker]{New: newCounting, TrackWait: time.Second}
	w, err := o.Get(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	select {
	case <-w.ended:
	default:
		t.Fatal("Close returned before the worker stopped")
	}
	if _, err := o.Get(context.Background(), s); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
}

func TestWaitTracksWakesOnTheTracksWithoutPolling(t *testing.T) {
	_, p, s := liveStream(t, testConfig())
	got := make(chan []*Track, 1)
	go func() {
		tracks, _ := s.WaitTracks(context.Background(), time.Hour)
		got <- tracks
	}()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	writeAll(t, p, clip(1, 30)) // video and audio
	select {
	case tracks := <-got:
		if len(tracks) != 2 {
			t.Fatalf("%d tracks, want 2", len(tracks))
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("woke %v after the tracks arrived", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitTracks did not return when both tracks arrived")
	}

	_, p1, s1 := liveStream(t, testConfig())
	writeAll(t, p1, clip(1, 30)[:1]) // video only
	start = time.Now()
	tracks, err := s1.WaitTracks(context.Background(), 50*time.Millisecond)
	if err != nil || len(tracks) != 1 || time.Since(start) > 2*time.Second {
		t.Fatalf("video-only stream: %d tracks, %v after %v", len(tracks), err, time.Since(start))
	}
}

func TestWatchSeesEveryStreamEventInOrder(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = time.Hour
	g := NewRegistry(cfg)
	defer g.Close()
	already := mustPublish(t, g, "live/already")

	var (
		mu  sync.Mutex
		got []string
	)
	stop := g.Watch(func(ev Event) {
		mu.Lock()
		got = append(got, ev.Stream.Path()+" "+ev.Kind.String())
		mu.Unlock()
	})
	p := mustPublish(t, g, "live/a")
	p.Close()                         // grace: the stream stays
	p2 := mustPublish(t, g, "live/a") // hand-over: same stream
	if p2.Stream() != p.Stream() {
		t.Fatal("hand-over made a new stream")
	}
	already.Close()
	g.Close()
	stop()
	mustNotPublish := func() {
		if _, err := g.Publish("live/b"); !errors.Is(err, ErrClosed) {
			t.Fatalf("publish after close: %v", err)
		}
	}
	mustNotPublish()

	want := []string{
		"live/already started", "live/already publisher joined",
		"live/a started", "live/a publisher joined",
		"live/a publisher left",
		"live/a publisher joined",
		"live/already publisher left",
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got[:len(want)], want) {
		t.Fatalf("events:\n%q\nwant first:\n%q", got, want)
	}
	ended := got[len(want):]
	slices.Sort(ended)
	if !slices.Equal(ended, []string{"live/a ended", "live/already ended"}) {
		t.Fatalf("end events %q", ended)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
