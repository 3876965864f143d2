package player

import (
	"context"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// worker is a per-stream muxer: it runs until ctx ends or its source stream does.
type worker interface {
	run(ctx context.Context)
}

// perStream starts one worker per live relay stream on first use, and forgets it when it ends.
type perStream[W worker] struct {
	mu      sync.Mutex
	workers map[*relay.Stream]*running[W]
	closed  bool
}

type running[W worker] struct {
	w      W
	cancel context.CancelFunc
	done   chan struct{}
}

// get returns the worker of path, making one with start (given the stream's tracks) if none
// runs yet.
func (ps *perStream[W]) get(ctx context.Context, relays Relay, path string, trackWait time.Duration,
	start func(*relay.Stream, []*relay.Track) (W, error)) (W, error) {
	var zero W
	rs, err := relays.Lookup(path)
	if err != nil {
		return zero, err
	}
	ps.mu.Lock()
	r, ok := ps.workers[rs]
	ps.mu.Unlock()
	if ok {
		return r.w, nil
	}
	wctx, cancel := context.WithTimeout(ctx, trackWait)
	defer cancel()
	tracks, err := rs.WaitTracks(wctx, 500*time.Millisecond)
	if err != nil {
		return zero, err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return zero, relay.ErrClosed
	}
	if r, ok := ps.workers[rs]; ok {
		return r.w, nil
	}
	w, err := start(rs, tracks)
	if err != nil {
		return zero, err
	}
	rctx, rcancel := context.WithCancel(context.Background())
	r = &running[W]{w: w, cancel: rcancel, done: make(chan struct{})}
	if ps.workers == nil {
		ps.workers = make(map[*relay.Stream]*running[W])
	}
	ps.workers[rs] = r
	go pprof.Do(rctx, pprof.Labels("stream", rs.Path(), "protocol", "http"), func(rctx context.Context) {
		defer close(r.done)
		w.run(rctx)
		ps.mu.Lock()
		delete(ps.workers, rs)
		ps.mu.Unlock()
	})
	return w, nil
}

// close stops every worker and waits for them.
func (ps *perStream[W]) close() {
	ps.mu.Lock()
	ps.closed = true
	all := make([]*running[W], 0, len(ps.workers))
	for _, r := range ps.workers {
		all = append(all, r)
	}
	ps.mu.Unlock()
	for _, r := range all {
		r.cancel()
		<-r.done
	}
}
