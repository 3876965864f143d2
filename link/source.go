package link

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// States of a link, as Links shows them.
const (
	StateIdle       = "idle"       // on demand, and nobody watches
	StateConnecting = "connecting" // dialing, or waiting for the first frame
	StateLive       = "live"       // media flow
	StateRetrying   = "retrying"   // the last attempt failed; the next comes after a backoff
)

// errIdle ends an on-demand source's connection: nobody watched for its close-after time.
var errIdle = errors.New("no viewers")

// Status is one link's state for the API and metrics.
type Status struct {
	Kind     string    `json:"kind"` // source, origin, push or forward (an edge's publish to its origin)
	Path     string    `json:"path"`
	URL      string    `json:"url"` // the peer, without credentials
	State    string    `json:"state"`
	Since    time.Time `json:"since"` // when the state began
	Error    string    `json:"error,omitempty"`
	Connects uint64    `json:"connects"` // connections that delivered media
	Failures uint64    `json:"failures"` // attempts that failed or ended
}

// status is a link's Status, kept under its own lock.
type status struct {
	mu     sync.Mutex
	s      Status
	notify func(prev string, now Status) // on a change of state; nil: nobody
}

func (st *status) set(state string, err error) {
	st.mu.Lock()
	prev := st.s.State
	if prev != state {
		st.s.State, st.s.Since = state, time.Now()
	}
	switch {
	case state == StateLive:
		st.s.Connects++
		st.s.Error = ""
	case err != nil:
		st.s.Failures++
		st.s.Error = err.Error()
	}
	now := st.s
	st.mu.Unlock()
	if prev != state && st.notify != nil {
		st.notify(prev, now)
	}
}

func (st *status) get() Status {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.s
}

// Relay is what links need from the relay.
type Relay interface {
	Publish(path string) (*relay.Publisher, error)
	LastDemand(path string) time.Time
	ForgetDemand(path string)
	DemandFailed(path string, err error)
}

// source is one pulled path: the URLs it tries in order (one source, or the origins), and
// its connection, kept up always or while viewers want it.
type source struct {
	path       string
	urls       []*url.URL
	onDemand   bool
	closeAfter time.Duration
	relays     Relay
	viewers    func(path string) int
	log        *slog.Logger
	st         status
	done       func(*source) // told when run stops by itself (an idle on-demand source)

	mu      sync.Mutex
	running bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// start runs the source unless it runs already. parent bounds it.
func (s *source) start(parent context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running || parent.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(parent)
	s.running, s.cancel = true, cancel
	s.st.set(StateConnecting, nil)
	s.wg.Go(func() { s.run(ctx) })
}

// stop ends the source and waits for it.
func (s *source) stop() {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *source) run(ctx context.Context) {
	bo := newBackoff()
	for {
		up, err := s.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if up == 0 {
			s.relays.DemandFailed(s.path, err) // the viewers waiting hear it now
		}
		// An on-demand source that never came up stops when no viewer stays connected: the
		// viewers that waited were told, and the next to ask starts it again.
		if s.onDemand && (errors.Is(err, errIdle) || !s.wanted(time.Now().Add(-s.closeAfter)) || up == 0 && s.viewers(s.path) == 0) {
			if s.idle(up == 0) {
				s.log.Info("source closed: no viewers", "path", s.path, "after", s.closeAfter)
				return
			}
		}
		s.st.set(StateRetrying, err)
		s.log.Warn("source failed, retrying", "path", s.path, "err", err)
		if !bo.wait(ctx, up) {
			return
		}
	}
}

// idle stops an on-demand source's run, unless a viewer came meanwhile: one connected, or,
// unless failed (the waiting viewers were told), one that asked within closeAfter.
func (s *source) idle(failed bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.viewers(s.path) > 0 || !failed && s.wanted(time.Now().Add(-s.closeAfter)) {
		return false
	}
	s.running = false
	s.st.set(StateIdle, nil)
	s.relays.ForgetDemand(s.path)
	if s.done != nil {
		go s.done(s)
	}
	return true
}

// wanted says whether a viewer watches the path now or asked for it after since.
func (s *source) wanted(since time.Time) bool {
	return s.viewers(s.path) > 0 || s.relays.LastDemand(s.path).After(since)
}

// connect tries each URL in order until one delivers media, and serves it until it ends.
// It returns how long media flowed (0: none did) and why it ended.
func (s *source) connect(ctx context.Context) (time.Duration, error) {
	var errs []error
	for _, u := range s.urls {
		s.st.set(StateConnecting, nil)
		up, err := s.serve(ctx, u)
		if up > 0 || ctx.Err() != nil || errors.Is(err, errIdle) {
			return up, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", redact(u), err))
	}
	return 0, errors.Join(errs...)
}

// serve pulls u into the path; an on-demand source is cut when nobody wanted it for
// closeAfter.
func (s *source) serve(ctx context.Context, u *url.URL) (time.Duration, error) {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var began time.Time
	out := &lazyPublisher{open: func() (*relay.Publisher, error) {
		pub, err := s.relays.Publish(s.path)
		if err != nil {
			return nil, err
		}
		pub.SetProtocol(u.Scheme)
		began = time.Now()
		s.st.set(StateLive, nil)
		s.log.Info("source live", "path", s.path, "url", redact(u))
		return pub, nil
	}}
	if s.onDemand {
		stop := s.watchIdle(cctx, cancel)
		defer stop()
	}
	err := pull(cctx, u, out, s.log.With("path", s.path, "url", redact(u)))
	if cause := context.Cause(cctx); errors.Is(cause, errIdle) {
		err = errIdle
	}
	if !out.close() {
		return 0, err
	}
	if err == nil {
		err = errors.New("connection closed")
	}
	return max(time.Since(began), time.Nanosecond), err
}

// idleCheck is how often an on-demand source looks for viewers.
const idleCheck = 500 * time.Millisecond

// watchIdle cancels with errIdle once nobody has wanted the path for closeAfter.
func (s *source) watchIdle(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(idleCheck)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case now := <-t.C:
				if s.viewers(s.path) > 0 {
					last = now
				} else if d := s.relays.LastDemand(s.path); d.After(last) {
					last = d
				}
				if now.Sub(last) >= s.closeAfter {
					cancel(errIdle)
					return
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// redact returns u without its password, SRT passphrase or read key, for logs and the API.
func redact(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Redacted()
	}
	v := *u
	parts := strings.Split(v.RawQuery, "&")
	for i, kv := range parts {
		if k, _, ok := strings.Cut(kv, "="); ok && (k == "passphrase" || k == "key") {
			parts[i] = k + "=xxxxx"
		}
	}
	v.RawQuery = strings.Join(parts, "&")
	return v.Redacted()
}
