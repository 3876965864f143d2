package ingest

import (
	"sync"
	"time"

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
}

// Interleaver passes the frames of several tracks to one writer in DTS order; each track
// writes through its own Track(). It is safe for concurrent use.
type Interleaver struct{ x *interleaver }

// NewInterleaver returns an interleaver into out.
func NewInterleaver(out FrameWriter) *Interleaver { return &Interleaver{&interleaver{out: out}} }

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
