package link_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/session"
)

// kickOne ends the first live session of kind on path, and reports whether there was one.
func kickOne(s *testenv.Server, kind session.Kind, path string) bool {
	for _, ss := range s.Sessions.List() {
		if ss.Kind == kind && ss.Path == path {
			if live := s.Sessions.Get(ss.ID); live != nil && live.Kick() {
				return true
			}
		}
	}
	return false
}

// TestFlappingPeersLeaveNoGoroutinesBehind drops the connections of three push relays (RTMP,
// SRT, RTSP) and of an origin pull 100 times each: every time the link comes back, and the
// goroutines it leaves are as many as before.
func TestFlappingPeersLeaveNoGoroutinesBehind(t *testing.T) {
	target := testenv.Start(t, testenv.Options{})
	src := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/flap": {Push: []string{target.URL("live/flap"),
			target.SRTURL("publish:live/flap-srt"), target.RTSPURL("live/flap-rtsp")}}}
	}})
	testenv.PublishDemo(t, src, "live/flap")
	edge := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.Origin = conf.List{"rtmp://" + src.RTMPAddr} }})
	viewer := watch(t, edge.URL("live/flap"))

	cycle := func(peer *testenv.Server, kind session.Kind, path string) bool {
		_, ok := waitFor(10*time.Second, func() bool { return kickOne(peer, kind, path) })
		return ok
	}
	// The goroutines are counted with every link up (each one's session on its peer), the
	// state the flaps return to: right after a kick the links are down, and how many have
	// come back by the time of a count would decide it.
	allUp := func() bool {
		return hasSession(target, session.Publish, "live/flap") && hasSession(target, session.Publish, "live/flap-srt") &&
			hasSession(target, session.Publish, "live/flap-rtsp") && hasSession(src, session.Read, "live/flap")
	}
	var before int
	for i := range 100 {
		if i == 5 { // the servers' own goroutines have all started
			if _, ok := waitFor(10*time.Second, allUp); !ok {
				t.Fatal("the links did not all come back after 5 flaps")
			}
			before = steadyGoroutines()
		}
		for _, path := range []string{"live/flap", "live/flap-srt", "live/flap-rtsp"} {
			if !cycle(target, session.Publish, path) {
				t.Fatalf("cycle %d: the push to %s did not come back", i, path)
			}
		}
		if !cycle(src, session.Read, "live/flap") {
			t.Fatalf("cycle %d: the origin pull did not come back", i)
		}
	}
	var after int
	if _, ok := waitFor(15*time.Second, func() bool {
		if !allUp() {
			return false
		}
		after = steadyGoroutines()
		return after <= before+5
	}); !ok {
		b := make([]byte, 1<<20)
		t.Errorf("goroutines: %d after 95 flaps of each link, %d before:\n%s", after, before, b[:runtime.Stack(b, true)])
	}
	t.Logf("goroutines with every link up: %d after 5 flaps, %d after 100", before, after)
	if n, _, err := viewer.since(time.Now().Add(-2 * time.Second)); err != nil || n == 0 {
		t.Errorf("the edge's viewer after the flaps: %d pictures in the last 2 s, err %v", n, err)
	}
}

// hasSession says whether s has a session of kind on path.
func hasSession(s *testenv.Server, kind session.Kind, path string) bool {
	for _, ss := range s.Sessions.List() {
		if ss.Kind == kind && ss.Path == path {
			return true
		}
	}
	return false
}

// steadyGoroutines counts the goroutines once the count holds for 200 ms (at most 2 s): a
// link just up may still be starting some.
func steadyGoroutines() int {
	n := runtime.NumGoroutine()
	for range 10 {
		time.Sleep(200 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			break
		}
		n = m
	}
	return n
}
