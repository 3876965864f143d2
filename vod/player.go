package vod

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

// lead is how far ahead of real time a stored file is sent: the player's buffer, filled at
// once when playback starts or seeks.
const lead = 500 * time.Millisecond

// Player plays stored files to viewers of streaming protocols (RTMP, RTSP): each viewer gets
// a relay stream of its own, fed sample by sample from its own position in real time, so the
// protocol servers serve a file exactly as they serve a live stream, and a relay.Control of
// it. The stream ends at the file's end.
type Player struct {
	lib *Library
	// Windows, when set, gives the media of names under relay.WindowPrefix (dvr/APP/NAME: a live
	// path's DVR window, as its recordings hold it now).
	Windows func(path string) (Window, error)
	streams *relay.Registry // the viewers' own streams, out of the live registry's sight
	next    atomic.Uint64
	wg      sync.WaitGroup
	mu      sync.Mutex
	plays   map[*playback]struct{}
	closed  bool
}

// playback is one viewer's, and its relay.Control: its file, its stream, and the goroutine
// pacing the file into it from the current position.
type playback struct {
	p      *Player
	name   string
	f      io.ReaderAt
	closer io.Closer
	ix     *format.Index
	pub    *relay.Publisher
	reader *relay.Reader
	start  time.Duration // the file's time of the stream's zero
	zero   time.Time     // the wall-clock time of the file's time zero (a DVR window's)

	mu    sync.Mutex // orders seeks, pauses and stop
	halt  context.CancelFunc
	paced chan struct{} // closed when the pacing goroutine is gone
	once  sync.Once
	ended atomic.Bool // the file was played to its end, or stopped: the stream is over
}

// NewPlayer returns a player of lib's files.
func NewPlayer(lib *Library) *Player {
	cfg := relay.DefaultConfig()
	// A viewer's stream holds little: frames come at most lead ahead of playback, and each
	// is let go once the viewer's reader has passed it (ReleaseRead: the reader exists
	// before the first frame, and nobody joins later), so a viewer holds about lead of its
	// own copy of the file's samples. MaxLag must stay well above lead, or a viewer whose
	// reader is at the first frame of the opening burst is already "behind" and skips a GOP.
	// 256 slots hold over 2 s of 60 fps video with its audio: more than MaxLag.
	cfg.RingSize, cfg.MaxLag, cfg.Grace, cfg.ReleaseRead = 256, 1500*time.Millisecond, 0, true
	return &Player{lib: lib, streams: relay.NewRegistry(cfg), plays: map[*playback]struct{}{}}
}

// Open starts playing media name from start (rounded down to a keyframe) and returns the
// viewer's reader of it and its control. The reader exists before the first frame is
// written, so it gets every frame from the start on, however late its owner reads: the
// stream keeps only a second behind its newest frame. Its timeline starts at zero, at the
// control's Start, and stays the file's after a Seek.
func (p *Player) Open(name string, start time.Duration) (*relay.Reader, relay.Control, error) {
	m, err := p.open(name)
	if err != nil {
		return nil, nil, err
	}
	return p.play(name, m, start)
}

// OpenAt is Open by wall-clock time, for a DVR window (relay.ClockedMedia): from the
// keyframe at or before at (the window's start if at is before it). zero is the wall-clock
// time of the window's time zero.
func (p *Player) OpenAt(name string, at time.Time) (*relay.Reader, relay.Control, time.Time, error) {
	m, err := p.open(name)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	if m.Zero.IsZero() {
		m.Closer.Close()
		return nil, nil, time.Time{}, fmt.Errorf("%w: %s is not on the wall clock (only a DVR window, dvr/APP/NAME, is)", relay.ErrNoTime, name)
	}
	start := max(0, at.Sub(m.Zero))
	if start >= m.Index.Duration {
		m.Closer.Close()
		return nil, nil, time.Time{}, fmt.Errorf("%w: %s holds nothing from %s", relay.ErrNoTime, name, at.UTC().Format(time.RFC3339))
	}
	r, c, err := p.play(name, m, start)
	return r, c, m.Zero, err
}

func (p *Player) play(name string, m Window, start time.Duration) (*relay.Reader, relay.Control, error) {
	pub, err := p.streams.Publish("play/" + strconv.FormatUint(p.next.Add(1), 10))
	if err != nil {
		m.Closer.Close()
		return nil, nil, fmt.Errorf("play %s: %w", name, err)
	}
	pb := &playback{p: p, name: name, f: m.Bytes, closer: m.Closer, ix: m.Index, zero: m.Zero, pub: pub,
		reader: pub.Stream().NewReader(), start: keyframeAt(m.Index, start)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pb.reader.Close()
		pb.finish()
		return nil, nil, relay.ErrClosed
	}
	p.plays[pb] = struct{}{}
	p.wg.Add(1)
	p.mu.Unlock()
	pb.mu.Lock()
	pb.pace(start)
	pb.mu.Unlock()
	return pb.reader, pb, nil
}

// Window is stored media the library does not hold as a file: a live path's DVR window as
// its recordings hold it now.
type Window struct {
	Index  *format.Index
	Bytes  io.ReaderAt
	Closer io.Closer // when done
	// Zero is the wall-clock time of the index's time zero.
	Zero time.Time
}

// open finds name's index and bytes: a file of the library, or a DVR window.
func (p *Player) open(name string) (Window, error) {
	if path, ok := strings.CutPrefix(name, relay.WindowPrefix); ok && p.Windows != nil {
		return p.Windows(path)
	}
	f, ix, err := p.lib.openIndexed(name)
	if err != nil {
		return Window{}, err
	}
	return Window{Index: ix, Bytes: f, Closer: f}, nil
}

// keyframeAt is the time of the keyframe at or before t, where playback from t starts.
func keyframeAt(ix *format.Index, t time.Duration) time.Duration {
	if len(ix.Samples) == 0 {
		return 0
	}
	return ix.Samples[ix.KeyframeBefore(t)].DTS
}

// pace starts the goroutine that writes the file from the keyframe at or before start on.
// The caller holds mu.
func (pb *playback) pace(start time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	pb.halt, pb.paced = cancel, make(chan struct{})
	go func(paced chan struct{}) {
		defer close(paced)
		_, err := pace(ctx, pb.ix, pb.f, pb.pub.WriteFrame, start, 0, lead, pb.reader.Lag)
		if ctx.Err() != nil {
			return // halted: a seek, a pause or the viewer's leaving
		}
		if err != nil {
			pb.p.lib.log.Warn("stored playback stopped", "name", pb.name, "err", err)
		}
		pb.finish() // not under mu: a Seek holding it waits for this goroutine
	}(pb.paced)
}

// hold stops the pacing goroutine and waits for it. The caller holds mu.
func (pb *playback) hold() {
	if pb.halt != nil {
		pb.halt()
		<-pb.paced
		pb.halt = nil
	}
}

// finish ends the stream and lets the file go, once.
func (pb *playback) finish() {
	pb.once.Do(func() {
		pb.ended.Store(true)
		pb.pub.Close()
		pb.closer.Close()
		if pb.p.forget(pb) {
			pb.p.wg.Done()
		}
	})
}

// Close ends the playback as its viewer leaves. It is idempotent.
func (pb *playback) Close() {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	pb.hold()
	pb.finish()
}

// forget drops pb from the books, and reports whether it was there.
func (p *Player) forget(pb *playback) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.plays[pb]; !ok {
		return false
	}
	delete(p.plays, pb)
	return true
}

// Start implements relay.Control.
func (pb *playback) Start() time.Duration { return pb.start }

// Zero is the wall-clock time of the media's time zero, for a DVR window; zero otherwise.
func (pb *playback) Zero() time.Time { return pb.zero }

// Duration implements relay.Control.
func (pb *playback) Duration() time.Duration { return pb.ix.Duration }

// Seek implements relay.Control: the frames of the old position that the viewer's reader
// has not read yet are dropped, so the next frame it reads is the keyframe.
func (pb *playback) Seek(t time.Duration) (time.Duration, error) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	pb.hold()
	if pb.ended.Load() {
		return 0, relay.ErrEnded
	}
	for {
		f, err := pb.reader.Poll()
		if f == nil || err != nil {
			break
		}
	}
	t = min(max(t, 0), pb.ix.Duration)
	pb.pace(t)
	return keyframeAt(pb.ix, t), nil
}

// Pause implements relay.Control.
func (pb *playback) Pause() error {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	pb.hold()
	if pb.ended.Load() {
		return relay.ErrEnded
	}
	return nil
}

// Describe implements relay.StoredMedia.
func (p *Player) Describe(name string) ([]*relay.Track, time.Duration, error) {
	m, err := p.open(name)
	if err != nil {
		return nil, 0, err
	}
	m.Closer.Close()
	return m.Index.Tracks, m.Index.Duration, nil
}

// pace writes the samples from the keyframe at or before start on, each when its time comes
// (less ahead), with shift added to its times. It returns the wall-clock time the file's end
// is due at. With lag (a viewer's reader's Lag), a viewer that falls behind by more than
// maxBacklog holds the file back until it has caught up to the lead: a stored file is sent
// as fast as its viewer takes it, up to real time, and never skips.
func pace(ctx context.Context, ix *format.Index, f io.ReaderAt, write func(*relay.Frame) error, start, shift, ahead time.Duration, lag func() time.Duration) (time.Time, error) {
	first := ix.KeyframeBefore(start)
	base, t0 := ix.Samples[first].DTS, time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	wait := func(d time.Duration) error {
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		}
	}
	for i := first; i < len(ix.Samples); i++ {
		if lag != nil && lag() > maxBacklog {
			held := time.Now()
			for lag() > ahead {
				if err := wait(backlogPoll); err != nil {
					return time.Time{}, err
				}
			}
			t0 = t0.Add(time.Since(held))
		}
		if d := time.Until(t0.Add(ix.Samples[i].DTS - base - ahead)); d > 0 {
			if err := wait(d); err != nil {
				return time.Time{}, err
			}
		} else if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		fr, err := ix.Frame(f, i)
		if err != nil {
			return time.Time{}, err
		}
		fr.DTS += shift
		fr.PTS += shift
		if err := write(fr); err != nil {
			return time.Time{}, err
		}
	}
	return t0.Add(ix.Duration - base), nil
}

// maxBacklog is how far behind a viewer may fall before its file is held back: well under
// the stream's MaxLag, past which its reader would skip. backlogPoll is how often a held
// file looks again.
const (
	maxBacklog  = time.Second
	backlogPoll = 20 * time.Millisecond
)

// Close stops every playback and waits for it.
func (p *Player) Close() {
	p.mu.Lock()
	p.closed = true
	plays := make([]*playback, 0, len(p.plays))
	for pb := range p.plays {
		plays = append(plays, pb)
	}
	p.mu.Unlock()
	for _, pb := range plays {
		pb.Close()
	}
	p.wg.Wait()
	p.streams.Close()
}
