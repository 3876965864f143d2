package relay

import (
	"testing"
	"time"
)

// A 2 s backlog handed over at once goes out over half a second at 4x; frames after it, at
// real time, pass at once; a leap of an hour costs no wait.
func TestCatchUpSpreadsTheBacklogAndPassesLiveFrames(t *testing.T) {
	var c CatchUp
	t0 := time.Unix(1000, 0)
	frame := 33 * time.Millisecond
	now := t0
	for i := range 61 { // the GOP, all there at t0: each waits its turn
		dts := time.Duration(i) * frame
		now = now.Add(c.Delay(now, dts))
		if want := t0.Add(dts / 4); !now.Equal(want) {
			t.Fatalf("backlog frame %d sent %v after the first, want %v", i, now.Sub(t0), want.Sub(t0))
		}
	}
	caughtUp := t0.Add(time.Second) // by then, the live frames come in real time
	for i := 61; i < 100; i++ {
		dts := time.Duration(i) * frame
		if got := c.Delay(caughtUp.Add(dts-2*time.Second), dts); got != 0 {
			t.Fatalf("live frame %d: wait %v, want none", i, got)
		}
	}
	if got := c.Delay(caughtUp.Add(2*time.Second), time.Hour); got != 0 {
		t.Fatalf("a leap of an hour: wait %v, want none", got)
	}
	if got := c.Delay(caughtUp.Add(2*time.Second), time.Hour+400*time.Millisecond); got != 100*time.Millisecond {
		t.Fatalf("a frame 400 ms after the leap, handed over with it: wait %v, want 100ms", got)
	}
}
