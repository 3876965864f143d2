package webrtc

import (
	"testing"
	"time"
)

// The chooser steps down only on congestion seen twice with the estimate under the layer's
// bitrate, to the best layer the estimate carries; it steps up only by trying, after a wait
// that doubles each time a try has to come back, which it does at its first congestion.
func TestChooserStepsDownOnCongestionAndTriesUp(t *testing.T) {
	rates := []int{750_000, 1_450_000, 2_900_000}
	var c chooser
	at := time.Unix(1000, 0)
	tick := func(d time.Duration, estimate int, congested bool, cur int) int {
		at = at.Add(d)
		return c.choose(at, estimate, congested, rates, cur)
	}
	if got := tick(0, 2_000_000, true, 2); got != 2 {
		t.Fatalf("stepped to %d at the start, while the estimate settles", got)
	}
	if got := tick(3*time.Second, 2_000_000, true, 2); got != 2 {
		t.Fatalf("stepped to %d on one congested tick", got)
	}
	if got := tick(time.Second, 1_600_000, true, 2); got != 1 {
		t.Fatalf("stepped to %d on congestion seen twice at 1.6 Mbit/s, want 1", got)
	}
	c.switched(at, false)
	// After a step down, an estimate low but not congested is no reason to go lower.
	if got := tick(3*time.Second, 1_000_000, false, 1); got != 1 {
		t.Fatalf("stepped to %d without congestion", got)
	}
	if got := tick(5*time.Second, 1_000_000, false, 1); got != 2 {
		t.Fatalf("did not try up after %v: %d", upWait, got)
	}
	c.switched(at, true)
	if got := tick(time.Second, 2_000_000, true, 2); got != 1 {
		t.Fatalf("a try up that congests: %d, want 1 at once", got)
	}
	c.switched(at, false)
	if c.wait != 2*upWait {
		t.Errorf("after a try that came back the wait is %v, want %v", c.wait, 2*upWait)
	}
	if got := tick(upWait, 4_000_000, false, 1); got != 1 {
		t.Errorf("tried up again after %v (the estimate is no evidence): %d", upWait, got)
	}
	if got := tick(upWait, 1_000_000, false, 1); got != 2 {
		t.Errorf("did not try again after %v: %d", 2*upWait, got)
	}
	c.switched(at, true)
	if got := tick(heldFor, 3_000_000, false, 2); got != 2 || c.wait != upWait {
		t.Errorf("a try that held: layer %d, wait %v, want 2 and %v", got, c.wait, upWait)
	}

}
