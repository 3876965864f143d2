// Package webhook tells other systems what happens on the server: JSON POSTs of events
// (publish and read start and stop on every protocol, recording files done, links up and
// down) to each configured URL, signed with HMAC-SHA256, in order, retried with backoff. A
// receiver that is slow or down delays nothing: each URL has a bounded queue of its own, and
// what does not fit is dropped and counted.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The event types.
const (
	PublishStart     = "publish.start"
	PublishStop      = "publish.stop"
	ReadStart        = "read.start"
	ReadStop         = "read.stop"
	RecordingSegment = "recording.segment"
	LinkUp           = "link.up"
	LinkDown         = "link.down"
)

// Event is one thing that happened, as receivers get it (the JSON body of a POST).
type Event struct {
	ID   string    `json:"id"` // unique: a receiver that got it before (a retry) can tell
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Path string    `json:"path"`
	// sessions'
	Session   string  `json:"session,omitempty"`
	Protocol  string  `json:"protocol,omitempty"`
	Remote    string  `json:"remote,omitempty"`
	Transport string  `json:"transport,omitempty"`
	Reason    string  `json:"reason,omitempty"` // why it stopped
	BytesIn   uint64  `json:"bytes_in,omitempty"`
	BytesOut  uint64  `json:"bytes_out,omitempty"`
	Seconds   float64 `json:"seconds,omitempty"` // how long it lasted; a recording's media
	// recordings'
	File    string    `json:"file,omitempty"`
	Started time.Time `json:"started,omitzero"`
	Bytes   int64     `json:"bytes,omitempty"`
	// links'
	Link  string `json:"link,omitempty"` // pull, push, origin…
	URL   string `json:"url,omitempty"`  // the peer, without credentials
	Error string `json:"error,omitempty"`
}

// Config is where events go and how.
type Config struct {
	URLs   []string
	Secret string // signs each body; empty: unsigned
	// Queue bounds the events waiting for each URL: a receiver down for longer gets the
	// first Queue of them when it returns, and the rest are dropped.
	Queue int
	// Timeout bounds one POST; Backoff is the first wait after a failure, doubling up to
	// MaxBackoff.
	Timeout, Backoff, MaxBackoff time.Duration
}

// DefaultConfig returns the defaults (no URLs: no webhooks).
func DefaultConfig() Config {
	return Config{Queue: 10000, Timeout: 5 * time.Second, Backoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second}
}

// Stats are a sender's counts over all its URLs.
type Stats struct {
	Sent, Failed, Dropped uint64 // events delivered; POSTs that failed; events never sent
	Queued                int
}

// Sender posts events to the configured URLs. Its methods are safe for concurrent use.
type Sender struct {
	cfg                   Config
	log                   *slog.Logger
	client                *http.Client
	targets               []*target
	ctx                   context.Context
	cancel                context.CancelFunc
	wg                    sync.WaitGroup
	sent, failed, dropped atomic.Uint64
}

// target is one URL with its queue.
type target struct {
	url   string
	queue chan Event
}

// New starts a sender; Close stops it.
func New(cfg Config, log *slog.Logger) *Sender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{cfg: cfg, log: log, client: &http.Client{Timeout: cfg.Timeout}, ctx: ctx, cancel: cancel}
	for _, u := range cfg.URLs {
		t := &target{url: u, queue: make(chan Event, max(cfg.Queue, 1))}
		s.targets = append(s.targets, t)
		s.wg.Go(func() { s.deliver(t) })
	}
	return s
}

// Emit queues e for every URL, with its id and time set; it never waits.
func (s *Sender) Emit(e Event) {
	if s == nil || len(s.targets) == 0 {
		return
	}
	e.ID = newID()
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	for _, t := range s.targets {
		select {
		case t.queue <- e:
		default:
			if s.dropped.Add(1)%1000 == 1 {
				s.log.Warn("webhook queue full: events dropped", "url", t.url, "dropped", s.dropped.Load())
			}
		}
	}
}

// Stats returns the counts so far.
func (s *Sender) Stats() Stats {
	st := Stats{Sent: s.sent.Load(), Failed: s.failed.Load(), Dropped: s.dropped.Load()}
	for _, t := range s.targets {
		st.Queued += len(t.queue)
	}
	return st
}

// Close stops the deliveries; what is still queued is not sent.
func (s *Sender) Close() {
	s.cancel()
	s.wg.Wait()
}

// deliver posts t's events one at a time, in order, each until it is taken.
func (s *Sender) deliver(t *target) {
	for {
		select {
		case e := <-t.queue:
			s.post(t, e)
		case <-s.ctx.Done():
			return
		}
	}
}

// post sends e until the receiver takes it (2xx) or refuses it for good (4xx but 408 and
// 429), waiting longer after each failure.
func (s *Sender) post(t *target, e Event) {
	body, err := json.Marshal(e)
	if err != nil {
		s.log.Error("webhook event", "err", err)
		return
	}
	wait := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := s.send(t.url, e, body)
		if err == nil {
			s.sent.Add(1)
			return
		}
		s.failed.Add(1)
		var perm permanent
		if errors.As(err, &perm) {
			s.log.Warn("webhook refused", "url", t.url, "event", e.Type, "err", err)
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("webhook failed: retrying", "url", t.url, "event", e.Type, "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
			return
		}
		wait = min(wait*2, s.cfg.MaxBackoff)
	}
}

// permanent is a refusal that a retry would not change.
type permanent struct{ error }

func (s *Sender) send(url string, e Event, body []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "relaycast-webhook")
	req.Header.Set("X-Relaycast-Event", e.Type)
	req.Header.Set("X-Relaycast-Delivery", e.ID)
	if s.cfg.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(s.cfg.Secret, time.Now(), body))
	}
	res, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	switch c := res.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests:
		return permanent{fmt.Errorf("%s", res.Status)}
	default:
		return fmt.Errorf("%s", res.Status)
	}
}

// SignatureHeader carries a body's signature: t=UNIX,v1=HEX, HEX being the HMAC-SHA256 under
// the secret of "UNIX." followed by the body. A receiver recomputes it, and refuses old times
// (replays).
const SignatureHeader = "X-Relaycast-Signature"

// Sign returns the signature header's value of body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header of body against the secret, refusing ones older than
// maxAge; receivers written in Go may use it.
func Verify(secret, header string, body []byte, maxAge time.Duration) error {
	var ts, sig string
	for _, kv := range bytes.Split([]byte(header), []byte(",")) {
		k, v, _ := bytes.Cut(kv, []byte("="))
		switch string(k) {
		case "t":
			ts = string(v)
		case "v1":
			sig = string(v)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("webhook signature: malformed")
	}
	if age := time.Since(time.Unix(unix, 0)); age > maxAge || age < -maxAge {
		return fmt.Errorf("webhook signature: %v old", age.Round(time.Second))
	}
	want := Sign(secret, time.Unix(unix, 0), body)
	if !hmac.Equal([]byte(want), []byte(header)) {
		return errors.New("webhook signature: does not match")
	}
	return nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
