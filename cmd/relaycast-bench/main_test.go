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
	r, err := run(options{url: srv.URL("live/bench"), players: 20, ramp: time.Second, duration: 3 * time.Second,
		pid: os.Getpid(), label: "relaycast"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.KeptUp != 20 || r.TTFFP50 <= 0 || r.DelayP50 <= 0 || r.CPUSeconds <= 0 || r.PeakRSSMiB <= 0 {
		t.Fatalf("result %+v: want every player kept up and every figure measured", r)
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
