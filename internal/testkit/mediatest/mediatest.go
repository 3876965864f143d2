// Package mediatest gives benchmarks and unit tests real frames without a network or a peer:
// the demo clip's H.264 and AAC, as the relay carries them.
package mediatest

import (
	"fmt"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
)

// DemoFrames returns one loop of the demo clip (720p30 H.264 with B-frames, AAC) as relay
// frames in decode order, starting at a keyframe, with the tracks they point to.
func DemoFrames() ([]*relay.Frame, error) {
	tags, err := format.ParseFLVFile(ingest.DemoClip())
	if err != nil {
		return nil, fmt.Errorf("demo clip: %w", err)
	}
	var c collector
	x := ingest.NewFLV(&c)
	for _, t := range tags {
		if err := x.Feed(t, 0); err != nil {
			return nil, fmt.Errorf("demo clip: %w", err)
		}
	}
	for i, f := range c.frames {
		if f.Key && f.Track.Codec.IsVideo() {
			return c.frames[i:], nil
		}
	}
	return nil, fmt.Errorf("demo clip: no keyframe")
}

type collector struct{ frames []*relay.Frame }

func (c *collector) WriteFrame(f *relay.Frame) error {
	c.frames = append(c.frames, f)
	return nil
}

func (c *collector) SetMetadata([]byte) {}

// Looper hands out the frames of a clip for ever, moving each one a loop later every time it
// comes round again, so timestamps keep increasing. Frames are reused: a caller must be done
// with a frame before its turn comes again.
type Looper struct {
	frames []*relay.Frame
	step   time.Duration
	i      int
}

// NewLooper loops frames: the next loop's first picture comes a frame (at 30 fps) after the
// last one's, as in a stream that goes on.
func NewLooper(frames []*relay.Frame) *Looper {
	var last time.Duration
	for _, f := range frames {
		if f.Track.Codec.IsVideo() {
			last = max(last, f.DTS)
		}
	}
	return &Looper{frames: frames, step: last - frames[0].DTS + time.Second/30}
}

// Next returns the next frame.
func (l *Looper) Next() *relay.Frame {
	f := l.frames[l.i%len(l.frames)]
	if l.i >= len(l.frames) {
		f.DTS += l.step
		f.PTS += l.step
	}
	l.i++
	return f
}
