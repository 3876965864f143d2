package webhook

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is a webhook receiver that checks signatures and keeps the events it took; down
// makes it answer 503.
type receiver struct {
	t      *testing.T
	secret string
	down   atomic.Bool
	mu     sync.Mutex
	got    []Event
	seen   map[string]int // deliveries by event id
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if rc.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if err := Verify(rc.secret, r.Header.Get(SignatureHeader), body, time.Minute); err != nil {
		rc.t.Errorf("%v: %s", err, body)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil || r.Header.Get("X-Relaycast-Event") != e.Type {
		rc.t.Errorf("event %s: %v", body, err)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, e)
	rc.seen[e.ID]++
	rc.mu.Unlock()
}

func (rc *receiver) events() []Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Event(nil), rc.got...)
}

func newReceiver(t *testing.T) (*receiver, string) {
	rc := &receiver{t: t, secret: "s3cret", seen: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func testSender(t *testing.T, urls ...string) *Sender {
	cfg := DefaultConfig()
	cfg.URLs, cfg.Secret, cfg.Backoff, cfg.MaxBackoff = urls, "s3cret", 20*time.Millisecond, 100*time.Millisecond
	s := New(cfg, slog.New(slog.DiscardHandler))
	t.Cleanup(s.Close)
	return s
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Every event reaches every receiver once, signed, in the order it happened; a receiver that
// is down gets them, still in order, when it returns, and the other one meanwhile.
func TestEventsArriveOnceSignedInOrderAfterAnOutage(t *testing.T) {
	up, upURL := newReceiver(t)
	down, downURL := newReceiver(t)
	down.down.Store(true)
	s := testSender(t, upURL, downURL)
	for i := range 50 {
		s.Emit(Event{Type: ReadStart, Path: "live/a", Session: string(rune('A' + i%26))})
	}
	waitFor(t, "the receiver that is up", func() bool { return len(up.events()) == 50 })
	if n := len(down.events()); n != 0 {
		t.Fatalf("a receiver that is down took %d", n)
	}
	down.down.Store(false)
	waitFor(t, "the receiver back up", func() bool { return len(down.events()) == 50 })
	for _, rc := range []*receiver{up, down} {
		for i, e := range rc.events() {
			if want := string(rune('A' + i%26)); e.Session != want || rc.seen[e.ID] != 1 {
				t.Fatalf("event %d: session %s (want %s), delivered %d times", i, e.Session, want, rc.seen[e.ID])
			}
		}
	}
	if st := s.Stats(); st.Sent != 100 || st.Failed == 0 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 100 sent, some failures, none dropped", st)
	}
}

// A receiver that hangs delays nobody: Emit returns at once, and what does not fit in the
// queue is dropped and counted.
func TestAHungReceiverDelaysNothingAndItsQueueIsBounded(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	t.Cleanup(func() { close(hang); srv.Close() })
	cfg := DefaultConfig()
	cfg.URLs, cfg.Queue, cfg.Timeout = []string{srv.URL}, 100, time.Minute
	s := New(cfg, slog.New(slog.DiscardHandler))
	defer s.Close()
	start := time.Now()
	for range 10000 {
		s.Emit(Event{Type: PublishStart, Path: "live/a"})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("10000 events took %v to emit", d)
	}
	if st := s.Stats(); st.Queued != 100 || st.Dropped < 9899 {
		t.Errorf("stats %+v, want 100 queued and the rest (but the one in flight) dropped", st)
	}
}

// A refusal for good (400) is not retried; the next event goes.
func TestARefusedEventIsNotRetried(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if posts.Add(1) == 1 {
			http.Error(w, "no", http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	s := testSender(t, srv.URL)
	s.Emit(Event{Type: PublishStart})
	s.Emit(Event{Type: PublishStop})
	waitFor(t, "the second event", func() bool { return s.Stats().Sent == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := posts.Load(); n != 2 {
		t.Errorf("%d POSTs, want 2 (no retry of the refused one)", n)
	}
}

// Verify takes what Sign makes and nothing else.
func TestSignatures(t *testing.T) {
	body := []byte(`{"type":"publish.start"}`)
	now := time.Now()
	if err := Verify("k", Sign("k", now, body), body, time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]string{
		"other key":  Sign("x", now, body),
		"other body": Sign("k", now, []byte(`{}`)),
		"old":        Sign("k", now.Add(-time.Hour), body),
		"malformed":  "v1=abc",
	} {
		if Verify("k", h, body, time.Minute) == nil {
			t.Errorf("%s: verified", name)
		}
	}
}
