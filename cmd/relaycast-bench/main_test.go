package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testenv"
)

func TestLoadRunAgainstRelaycast(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	r, err := run(options{url: srv.URL("live/bench"), players: 20, rtspURL: srv.RTSPURL("live/bench"), readers: 10,
		ramp: time.Second, duration: 3 * time.Second, pid: os.Getpid(), label: "relaycast"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	for _, g := range []*Group{&r.Group, r.RTSP} {
		if g == nil || g.KeptUp != g.Players || g.Failed > 0 || g.TTFFP50 <= 0 || g.DelayP50 <= 0 {
			t.Fatalf("result %+v: want every viewer kept up and every figure measured", g)
		}
	}
	if r.Players != 20 || r.RTSP.Players != 10 || r.CPUSeconds <= 0 || r.IdleRSSMiB <= 0 || r.PeakRSSMiB < r.IdleRSSMiB {
		t.Fatalf("result %+v: want 20 players, 10 readers, CPU and memory measured", r)
	}
}

func TestOnlyLoopbackIsLoaded(t *testing.T) {
	for _, u := range []string{"rtmp://10.0.0.1/live/x", "rtmp://example.com/live/x", "rtmp://192.168.1.2:1935/live/x"} {
		if err := checkLoopback(u); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want refused", u, err)
		}
	}
	for _, u := range []string{"rtmp://127.0.0.1:1935/live/x", "rtmp://[::1]:1935/live/x", "rtmp://127.0.0.2/live/x"} {
		if err := checkLoopback(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}
