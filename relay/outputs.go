package relay

import (
	"context"
	"runtime/pprof"
	"sync"
	"time"
)

// Worker is one stream's output (an RTSP packetizer, an fMP4 or HLS muxer): it runs until
// ctx ends or its stream does, and is then forgotten.
type Worker interface {
	Run(ctx context.Context)
}

// Outputs keeps one worker per stream, made when a viewer first asks for the stream in its
// format and gone when the stream ends, so work per frame is done once per stream and
// format, never per viewer. The zero value is not usable: set New.
type Outputs[W Worker] struct {
	// New makes the worker of a stream whose tracks are known. It must not block.
	New func(s *Stream, tracks []*Track) (W, error)
	// TrackWait bounds how long Get waits for a stream that just went live to show its
	// tracks (see Stream.WaitTracks).
	TrackWait time.Duration
	// Label names the output in profiles ("protocol" label next to "stream").
	Label string

	mu      sync.Mutex
	workers map[*Stream]*running[W]
	closed  bool
	wg      sync.WaitGroup
}

type running[W Worker] struct {
	w      W
	cancel context.CancelFunc
}

// TrackSettle is how long a stream that has shown one track may take to show the other,
// before an output that needs all of them up front (an SDP, an MPEG-TS program, an init
// segment) is told of one.
const TrackSettle = 500 * time.Millisecond

// Get returns the worker of s, starting it if none runs yet.
func (o *Outputs[W]) Get(ctx context.Context, s *Stream) (W, error) {
	var zero W
	o.mu.Lock()
	r, ok := o.workers[s]
	o.mu.Unlock()
	if ok {
		return r.w, nil
	}
	wctx, cancel := context.WithTimeout(ctx, o.TrackWait)
	defer cancel()
	tracks, err := s.WaitTracks(wctx, TrackSettle)
	if err != nil {
		return zero, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return zero, ErrClosed
	}
	if r, ok := o.workers[s]; ok { // started meanwhile
		return r.w, nil
	}
	w, err := o.New(s, tracks)
	if err != nil {
		return zero, err
	}
	rctx, rcancel := context.WithCancel(context.Background())
	r = &running[W]{w: w, cancel: rcancel}
	if o.workers == nil {
		o.workers = make(map[*Stream]*running[W])
	}
	o.workers[s] = r
	o.wg.Add(1)
	go pprof.Do(rctx, pprof.Labels("stream", s.Path(), "protocol", o.Label), func(rctx context.Context) {
		defer o.wg.Done()
		defer rcancel()
		w.Run(rctx)
		o.mu.Lock()
		if o.workers[s] == r {
			delete(o.workers, s)
		}
		o.mu.Unlock()
	})
	return w, nil
}

// Running returns the worker of s if one runs, without starting one.
func (o *Outputs[W]) Running(s *Stream) (W, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.workers[s]
	if !ok {
		var zero W
		return zero, false
	}
	return r.w, true
}

// Len returns how many workers run.
func (o *Outputs[W]) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.workers)
}

// Close stops every worker and waits for them; Get fails afterwards.
func (o *Outputs[W]) Close() {
	o.mu.Lock()
	o.closed = true
	for _, r := range o.workers {
		r.cancel()
	}
	o.mu.Unlock()
	o.wg.Wait()
}
