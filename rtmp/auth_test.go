package rtmp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/rtmp"
)

// publishes reports whether an ffmpeg publisher to url gets going (stays up for 3 s) and what
// it printed.
func publishes(t *testing.T, url string) (bool, string) {
	t.Helper()
	p := testenv.PublishSample(t, url)
	err := p.Wait(3 * time.Second)
	defer p.Kill()
	if err == nil {
		return false, p.Stderr() // exited by itself: refused
	}
	return !p.Exited(), p.Stderr()
}

func TestPublishKeysWrongMissingAndRight(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{RTMP: rtmp.Config{Access: &access.Policy{
		PathKeys: map[string]string{"live/locked": "letmein"},
	}}})
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"missing key", srv.URL("live/locked"), false},
		{"wrong key", srv.URL("live/locked?key=guess"), false},
		{"right key", srv.URL("live/locked?key=letmein"), true},
		{"path without a key, from loopback", srv.URL("live/open"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, stderr := publishes(t, tc.url)
			if ok != tc.ok {
				t.Fatalf("published = %v, want %v; ffmpeg said:\n%s", ok, tc.ok, stderr)
			}
			if !ok && !strings.Contains(stderr, "wrong or missing key") {
				t.Errorf("refusal does not say why:\n%s", stderr)
			}
		})
	}
}

func TestOnPublishCallbackAllowDenyAndTimeout(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := new(strings.Builder)
		buf := make([]byte, 4096)
		n, _ := r.Body.Read(buf)
		body.Write(buf[:n])
		switch {
		case strings.Contains(body.String(), "live/deny"):
			w.WriteHeader(http.StatusForbidden)
		case strings.Contains(body.String(), "live/slow"):
			time.Sleep(3 * time.Second)
		}
	}))
	defer hook.Close()
	srv := testenv.Start(t, testenv.Options{RTMP: rtmp.Config{Access: &access.Policy{
		OnPublish: hook.URL, OnPublishTimeout: time.Second,
	}}})
	for path, want := range map[string]bool{"live/allow": true, "live/deny": false, "live/slow": false} {
		t.Run(path, func(t *testing.T) {
			if ok, stderr := publishes(t, srv.URL(path)); ok != want {
				t.Fatalf("published = %v, want %v; ffmpeg said:\n%s", ok, want, stderr)
			}
		})
	}
}

func TestReadKeyGuardsPlay(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{RTMP: rtmp.Config{Access: &access.Policy{ReadKey: "watch"}}})
	testenv.PublishSample(t, srv.URL("live/guarded"))
	testenv.WaitLive(t, srv, "live/guarded", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if d := testenv.FFmpegDecode(ctx, t, srv.URL("live/guarded"), time.Second); d.Err == nil {
		t.Errorf("played without the read key")
	}
	if d := testenv.FFmpegDecode(ctx, t, srv.URL("live/guarded?key=watch"), time.Second); d.Err != nil || d.Frames < 25 {
		t.Errorf("with the read key: %d frames, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}
}
