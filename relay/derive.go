package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Deriver turns the frames of a source stream, one at a time, into the frames of a derived
// stream it writes to the publisher Derive.New gave it: an RTSP packetizer, an fMP4 or an
// MPEG-TS muxer, WebRTC's RTP next.
type Deriver interface {
	// Frame takes one source frame. An error is logged and the next frame comes.
	Frame(ctx context.Context, f *Frame) error
}

// Ender is a Deriver with something to do when its source is over (or the Derive closes),
// before its derived stream ends: an RTCP BYE, waiting viewers let go.
type Ender interface {
	End()
}

// Derive keeps one derived stream per source stream: what one output sends, computed once
// from the source when a viewer first asks for it, gone with its source, and read by every
// viewer of that output with the rules of any stream (a new reader starts at the latest
// keyframe, a slow one skips ahead). Per viewer only the socket write remains. The zero
// value is not usable: set New.
type Derive[D Deriver] struct {
	// New makes the deriver of src, whose tracks are known, writing to out. It must not
	// block. On an error out is closed.
	New func(src *Stream, tracks []*Track, out *Publisher) (D, error)
	// Label names the output in logs and profiles ("rtsp", "srt", "http-fmp4").
	Label string
	// TrackWait bounds the wait for a source that just went live to show its tracks.
	TrackWait time.Duration
	// MaxLag is how far behind the live edge a viewer may fall before it skips to the next
	// keyframe; 0: DefaultConfig's.
	MaxLag time.Duration
	// Log is where a deriver's failures go, with the path; nil: slog's default.
	Log *slog.Logger
	// SourceTimeline keeps each derived stream on its source's timeline rather than one
	// of its own: a reader switched between the derived streams of a stream's renditions
	// finds one time in all of them.
	SourceTimeline bool

	once    sync.Once
	streams *Registry // the derived streams, by their source's path
	outputs Outputs[*Derived[D]]
}

// Derived is the derived stream of one source and the deriver that makes it.
type Derived[D Deriver] struct {
	Deriver D
	src     *Stream
	out     *Publisher
	log     *slog.Logger
	label   string
}

// Stream is the derived stream, for viewers to read.
func (d *Derived[D]) Stream() *Stream { return d.out.Stream() }

func (d *Derive[D]) init() {
	d.once.Do(func() {
		c := DefaultConfig()
		c.Grace = 0 // the source has the grace window; what is derived from it just follows
		if d.MaxLag > 0 {
			c.MaxLag = d.MaxLag
		}
		if d.Log == nil {
			d.Log = slog.Default()
		}
		d.streams = NewRegistry(c)
		d.outputs = Outputs[*Derived[D]]{New: d.start, TrackWait: d.TrackWait, Label: d.Label}
	})
}

func (d *Derive[D]) start(src *Stream, tracks []*Track) (*Derived[D], error) {
	out, err := d.streams.publish(src.Path(), nil, nil) // a rendition too
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", d.Label, src.Path(), err)
	}
	if d.SourceTimeline {
		out.clock = &groupClock{set: true}
	}
	w, err := d.New(src, tracks, out)
	if err != nil {
		out.Close()
		return nil, err
	}
	return &Derived[D]{Deriver: w, src: src, out: out, log: d.Log.With("path", src.Path()), label: d.Label}, nil
}

// Get returns the derived stream of src, starting it if none runs yet: it waits, at most
// TrackWait, for a source that just went live to show its tracks.
func (d *Derive[D]) Get(ctx context.Context, src *Stream) (*Derived[D], error) {
	d.init()
	return d.outputs.Get(ctx, src)
}

// Len returns how many derived streams run.
func (d *Derive[D]) Len() int {
	d.init()
	return d.outputs.Len()
}

// Close ends every derived stream and waits for its deriver; Get fails afterwards.
func (d *Derive[D]) Close() {
	d.init()
	d.outputs.Close()
	d.streams.Close()
}

// Run derives until the source ends or ctx does; then the derived stream ends too.
func (d *Derived[D]) Run(ctx context.Context) {
	defer d.out.Close()
	if e, ok := any(d.Deriver).(Ender); ok {
		defer e.End()
	}
	r := d.src.NewReader()
	defer r.Close()
	for {
		f, err := r.Next(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrEnded) {
				d.log.Warn(d.label+" stopped", "err", err)
			}
			return
		}
		if err := d.Deriver.Frame(ctx, f); err != nil {
			d.log.Warn(d.label+": frame not derived", "err", err)
		}
	}
}
