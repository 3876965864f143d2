package relay

import (
	"context"
	"sync/atomic"
	"time"
)

// Reader follows one stream for one consumer. It holds a position in the stream's ring, never
// a copy of a frame. A Reader is used by one goroutine; Close may be called from any.
type Reader struct {
	s       *Stream
	pos     uint64 // sequence number of the next frame to hand out
	needKey bool   // skip frames until a video keyframe
	skips   int    // skips since the reader last caught up with the live edge
	dropped atomic.Uint64
	closed  atomic.Bool
	passed  atomic.Uint64 // pos, for the publisher of a ReleaseRead stream

	waiting atomic.Bool
	wake    chan struct{}
}

// Next returns the next frame, waiting for the publisher if the reader is at the live edge.
// A reader further than MaxLag behind skips to the latest keyframe; one that has to skip
// MaxSkips times in a row without catching up gets ErrTooSlow. Once the stream has ended
// and the reader has drained it, Next returns ErrEnded.
//
// Next does not allocate.
func (r *Reader) Next(ctx context.Context) (*Frame, error) {
	for {
		f, err := r.Poll()
		if f != nil || err != nil {
			return f, err
		}
		if err := r.wait(ctx); err != nil {
			return nil, err
		}
	}
}

// Poll is Next without the wait: at the live edge of a stream still live it returns nil, nil.
// A goroutine that serves many readers polls each when the stream signals (Stream.Subscribe).
func (r *Reader) Poll() (*Frame, error) {
	s := r.s
	for {
		if r.closed.Load() {
			return nil, ErrEnded
		}
		head := s.head.Load()
		if r.pos == head {
			r.skips = 0
			r.pass()
			if s.ended.Load() {
				return nil, ErrEnded
			}
			return nil, nil
		}
		f := s.ring[r.pos&s.mask].Load()
		if f == nil || s.head.Load()-r.pos > uint64(len(s.ring)) {
			// Released or overwritten while we were behind.
			if err := r.skip(); err != nil {
				return nil, err
			}
			continue
		}
		if time.Duration(s.lastDTS.Load())-f.DTS > s.cfg.MaxLag {
			if moved, err := r.skipIfPossible(); err != nil {
				return nil, err
			} else if moved {
				continue
			}
		}
		r.pos++
		if r.needKey {
			if !f.isVideoKey() {
				r.dropped.Add(1)
				continue
			}
			r.needKey = false
		}
		r.pass()
		return f, nil
	}
}

// pass tells the publisher of a ReleaseRead stream how far the reader has read.
func (r *Reader) pass() {
	if r.s.cfg.ReleaseRead {
		r.passed.Store(r.pos)
	}
}

// skipIfPossible jumps to the latest keyframe if it lies ahead of the reader.
func (r *Reader) skipIfPossible() (bool, error) {
	if k := r.s.keyNext.Load(); k == 0 || k-1 <= r.pos {
		return false, nil
	}
	return true, r.skip()
}

// skip moves the reader forward to the latest keyframe still held, or else to the live edge
// to wait there for the next keyframe.
func (r *Reader) skip() error {
	s := r.s
	from := r.pos
	head := s.head.Load()
	to := head
	if k := s.keyNext.Load(); k > 0 && k-1 > from && head-(k-1) <= uint64(len(s.ring)) && s.ring[(k-1)&s.mask].Load() != nil {
		to = k - 1
		r.needKey = false
	} else {
		r.needKey = s.video.Load()
	}
	if to < from {
		to = from
	}
	r.pos = to
	r.dropped.Add(to - from)
	r.skips++
	if r.skips > s.cfg.MaxSkips {
		return ErrTooSlow
	}
	return nil
}

func (r *Reader) wait(ctx context.Context) error {
	r.waiting.Store(true)
	if r.s.head.Load() != r.pos || r.s.ended.Load() || r.closed.Load() {
		r.waiting.Store(false)
		return nil
	}
	select {
	case <-r.wake:
		return nil
	case <-ctx.Done():
		r.waiting.Store(false)
		return ctx.Err()
	}
}

// signal wakes the reader if it waits. Called by the publisher for every frame, so it must
// be cheap for readers that are busy.
func (r *Reader) signal() {
	if r.waiting.Load() && r.waiting.CompareAndSwap(true, false) {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Dropped is how many frames this reader skipped because it fell behind.
func (r *Reader) Dropped() uint64 { return r.dropped.Load() }

// Stream is the stream this reader follows.
func (r *Reader) Stream() *Stream { return r.s }

// Close detaches the reader and wakes it if it waits in Next. It is idempotent.
func (r *Reader) Close() {
	if r.closed.Swap(true) {
		return
	}
	r.s.removeReader(r)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Lag is how far the reader is behind the newest frame, in stream time: from the oldest
// frame it has not read to the newest one. Only for a ReleaseRead stream (whose readers
// publish their position); safe to call from any goroutine. The pacer of a stored file
// waits on it, so that a slow viewer gets every frame, late, rather than skip.
func (r *Reader) Lag() time.Duration {
	s := r.s
	pos := r.passed.Load()
	if !s.cfg.ReleaseRead || pos >= s.head.Load() {
		return 0
	}
	f := s.ring[pos&s.mask].Load()
	if f == nil {
		return 0
	}
	return time.Duration(s.lastDTS.Load()) - f.DTS
}

// Ready reports whether Next would return without waiting: the reader is behind the live
// edge. Senders use it to gather frames into one write.
func (r *Reader) Ready() bool { return r.pos != r.s.head.Load() }
