package ingest

import (
	"sync"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// maxInterleave bounds how long a frame waits for the other track: longer, and that track
// is taken to have paused.
const maxInterleave = time.Second

// interleaver passes frames of several tracks on in DTS order. An MPEG-TS muxer sends audio
// ahead of video, and packs several audio frames in one PES, which the demuxer gives out
// only when it is complete: without this, a reader that starts at a keyframe would get
// audio from before it, and outputs that cut fragments by time would see jumps.
type interleaver struct {
	out    FrameWriter
	mu     sync.Mutex       // for inputs whose tracks arrive on goroutines of their own
	queues [][]*relay.Frame // one per track, in arrival (DTS) order
	// clock, when set, joins the tracks' jumps as continuity (their own clocks' wraps are
	// the caller's: gortsplib and gohlslib unwrap them)
	clock *codec.Timeline
}

// Interleaver passes the frames of several tracks to one writer in DTS order; each track
// writes through its own Track(). The timestamps run on through a jump of the source's
// clock (codec.Timeline). It is safe for concurrent use.
type Interleaver struct {
	x *interleaver
	// OnClockJump, when set before the first frame, hears of each discontinuity.
	OnClockJump func(step time.Duration)
}

// NewInterleaver returns an interleaver into out.
func NewInterleaver(out FrameWriter) *Interleaver {
	il := &Interleaver{}
	il.x = newJoiningInterleaver(out, func(step time.Duration) {
		if il.OnClockJump != nil {
			il.OnClockJump(step)
		}
	})
	return il
}

// newJoiningInterleaver returns an interleaver whose tracks' timestamps run on through a jump
// of the source's clock.
func newJoiningInterleaver(out FrameWriter, onJump func(time.Duration)) *interleaver {
	return &interleaver{out: out, clock: &codec.Timeline{Rate: int64(time.Second), OnJump: onJump}}
}

// Track adds a track and returns its writer. Add every track before the first frame.
func (il *Interleaver) Track() FrameWriter { return il.x.add() }

// Flush passes on every frame still waiting: the input ended.
func (il *Interleaver) Flush() error { return il.x.flush() }

// add makes room for one more track and returns its writer.
func (x *interleaver) add() trackWriter {
	x.queues = append(x.queues, nil)
	return trackWriter{x, len(x.queues) - 1}
}

// flush passes on every queued frame, in DTS order: the input ended.
func (x *interleaver) flush() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for {
		next := -1
		for j, q := range x.queues {
			if len(q) > 0 && (next < 0 || q[0].DTS < x.queues[next][0].DTS) {
				next = j
			}
		}
		if next < 0 {
			return nil
		}
		if err := x.pop(next); err != nil {
			return err
		}
	}
}

func (x *interleaver) pop(i int) error {
	q := x.queues[i]
	head := q[0]
	q[0] = nil
	x.queues[i] = q[1:]
	return x.out.WriteFrame(head)
}

// write queues f, of track i, and passes on every frame that no other can come before.
func (x *interleaver) write(i int, f *relay.Frame) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.clock != nil {
		shift := x.clock.At(i, int64(f.DTS)) - f.DTS
		f.DTS += shift
		f.PTS += shift
	}
	x.queues[i] = append(x.queues[i], f)
	for {
		next, ready := -1, true
		for j, q := range x.queues {
			if len(q) == 0 {
				ready = false
				continue
			}
			if next < 0 || q[0].DTS < x.queues[next][0].DTS {
				next = j
			}
		}
		if next < 0 || !ready && f.DTS-x.queues[next][0].DTS < maxInterleave {
			return nil
		}
		if err := x.pop(next); err != nil {
			return err
		}
	}
}

// trackWriter is one track's way into an interleaver.
type trackWriter struct {
	x *interleaver
	i int
}

func (w trackWriter) WriteFrame(f *relay.Frame) error { return w.x.write(w.i, f) }
func (w trackWriter) SetMetadata([]byte)              {}

// LogClockJump returns an OnClockJump that logs each discontinuity as a warning.
func LogClockJump(log interface{ Warn(string, ...any) }) func(time.Duration) {
	return func(step time.Duration) {
		log.Warn("the source's clock jumped: its timestamps run on from where they were", "step", step)
	}
}
