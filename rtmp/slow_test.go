package rtmp_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/rtmp"
)

// A viewer that stops reading for 30 s is dropped to keyframes and then cut off after the
// write timeout; the viewers around it keep every frame.
func TestViewerThatStopsReadingFor30sIsCutOffAndOthersKeepUp(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{RTMP: rtmp.Config{SendBuffer: 64 << 10}})
	testenv.PublishDemo(t, srv, "live/stall")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const window = 30 * time.Second
	var wg sync.WaitGroup
	counts := make([]atomic.Int64, 10)
	for i := range counts {
		p, err := rtmp.Play(ctx, srv.URL("live/stall"), rtmp.PlayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer p.Close()
			end := time.Now().Add(window)
			for time.Now().Before(end) {
				m, err := p.Next()
				if err != nil {
					t.Errorf("viewer %d: %v", i, err)
					return
				}
				if m.Kind == rtmp.VideoMsg && m.Body[1] == 1 {
					counts[i].Add(1)
				}
			}
		})
	}
	stalled, err := rtmp.Play(ctx, srv.URL("live/stall"), rtmp.PlayOptions{ReadBuffer: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	for srv.RTMP.Viewers()["live/stall"] < 11 {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	// The server counts 11 viewers until it cuts the stalled one off.
	var cutAfter atomic.Int64
	go func() {
		for time.Since(start) < window {
			if srv.RTMP.Viewers()["live/stall"] == 10 && cutAfter.Load() == 0 {
				cutAfter.Store(int64(time.Since(start)))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	wg.Wait()
	if cut := time.Duration(cutAfter.Load()); cut == 0 || cut > 25*time.Second {
		t.Errorf("the stalled viewer was not cut off within 25 s (after %v)", cut)
	} else {
		t.Logf("the stalled viewer was cut off %v after it stopped reading", cut)
	}
	want := int64(testenv.MinFrames(window))
	for i := range counts {
		if n := counts[i].Load(); n < want {
			t.Errorf("viewer %d got %d video frames in %v, want ≥ %d", i, n, window, want)
		}
	}
	for deadline := time.Now().Add(3 * time.Second); srv.RTMP.Viewers()["live/stall"] != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("%d viewers still counted after all left", srv.RTMP.Viewers()["live/stall"])
			break
		}
	}
}
