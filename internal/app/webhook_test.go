package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/webhook"
)

// hookReceiver is a webhook receiver: it checks each signature and keeps the events.
type hookReceiver struct {
	t  *testing.T
	mu sync.Mutex
	ev []webhook.Event
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify("s3cret", r.Header.Get(webhook.SignatureHeader), body, time.Minute); err != nil {
		h.t.Errorf("webhook %s: %v", body, err)
	}
	var e webhook.Event
	if err := json.Unmarshal(body, &e); err != nil {
		h.t.Errorf("webhook %s: %v", body, err)
	}
	h.mu.Lock()
	h.ev = append(h.ev, e)
	h.mu.Unlock()
}

// of returns the types of path's events, in the order they came.
func (h *hookReceiver) of(path string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.ev {
		if e.Path == path {
			out = append(out, e.Type)
		}
	}
	return out
}

func (h *hookReceiver) waitFor(t *testing.T, path string, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := h.of(path)
		if i := 0; true {
			for _, g := range got {
				if i < len(want) && g == want[i] {
					i++
				}
			}
			if i == len(want) {
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: events %v, want %v among them in order", path, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Webhooks hear of a publish, a reader over RTSP, recording files, a pull link and their
// ends, each once, signed, in the order they happened on each path.
func TestWebhooksTellEveryEventOnceInOrder(t *testing.T) {
	rc := &hookReceiver{t: t}
	hooks := httptest.NewServer(rc)
	defer hooks.Close()
	var srv *testenv.Server
	srv = testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.WebhookURLs, c.WebhookSecret = conf.List{hooks.URL}, "s3cret"
		c.Record, c.RecordSegment = true, time.Second
	}})
	pub := testenv.PublishSample(t, srv.URL("live/cam"))
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/cam"), 2*time.Second); d.Err != nil {
		t.Fatalf("ffmpeg over RTSP: %v", d.Err)
	}
	// a pull of the stream from this same server: a link
	cfg := srv.Config()
	cfg.Paths = map[string]conf.Path{"live/copy": {Source: srv.URL("live/cam"), OnDemand: new(bool)}}
	if err := srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	rc.waitFor(t, "live/copy", webhook.LinkUp)
	pub.Kill()
	// the pull reads live/cam too: its reader ends after the publisher, with the stream
	got := rc.waitFor(t, "live/cam", webhook.PublishStart, webhook.ReadStart, webhook.ReadStop, webhook.PublishStop, webhook.ReadStop)
	rc.waitFor(t, "live/copy", webhook.LinkUp, webhook.LinkDown)
	if got[0] != webhook.PublishStart || !slices.Contains(got, webhook.RecordingSegment) {
		t.Errorf("live/cam events: %v", got)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ids := map[string]bool{}
	var rtspStop, fullSegment bool
	for _, e := range rc.ev {
		if ids[e.ID] {
			t.Errorf("event %s came twice", e.ID)
		}
		ids[e.ID] = true
		switch e.Type {
		case webhook.ReadStop:
			rtspStop = rtspStop || e.Protocol == "rtsp"
			if e.BytesOut == 0 || e.Reason == "" || e.Seconds <= 0 {
				t.Errorf("read.stop %+v", e)
			}
		case webhook.RecordingSegment:
			fullSegment = fullSegment || e.Seconds >= 0.9 // the last is cut short by the publisher's end
			if e.File == "" || e.Seconds <= 0 || e.Bytes == 0 || e.Started.IsZero() {
				t.Errorf("recording.segment %+v", e)
			}
		case webhook.PublishStop:
			if e.Protocol != "rtmp" || e.BytesIn == 0 || e.Reason != "publisher left" {
				t.Errorf("publish.stop %+v", e)
			}
		}
	}
	if !rtspStop || !fullSegment {
		t.Errorf("no read.stop of the RTSP reader (%v) or no recording of a second (%v)", rtspStop, fullSegment)
	}
}
