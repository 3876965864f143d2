package vod

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// lead is how far ahead of real time a stored file is sent: the player's buffer, filled at
// once when playback starts or seeks.
const lead = 500 * time.Millisecond

// Player plays stored files to viewers of streaming protocols (RTMP, RTSP): each viewer gets
// a relay stream of its own, fed sample by sample from its own position in real time, so the
// protocol servers serve a file exactly as they serve a live stream. The stream ends at the
// file's end.
type Player struct {
	lib     *Library
	streams *relay.Registry // the viewers' own streams, out of the live registry's sight
	next    atomic.Uint64
	wg      sync.WaitGroup
	mu      sync.Mutex
	stops   map[uint64]context.CancelFunc
	closed  bool
}

// NewPlayer returns a player of lib's files.
func NewPlayer(lib *Library) *Player {
	cfg := relay.DefaultConfig()
	// A viewer's stream holds little: frames come at most lead ahead of playback, and each
	// is let go once the viewer's reader has passed it (ReleaseRead: the reader exists
	// before the first frame, and nobody joins later), so a viewer holds about lead of its
	// own copy of the file's samples. MaxLag must stay well above lead, or a viewer whose
	// reader is at the first frame of the opening burst is already "behind" and skips a GOP.
	cfg.RingSize, cfg.MaxLag, cfg.Grace, cfg.ReleaseRead = 512, 1500*time.Millisecond, 0, true
	return &Player{lib: lib, streams: relay.NewRegistry(cfg), stops: map[uint64]context.CancelFunc{}}
}

// Play starts playing media name from start (rounded down to a keyframe) and returns the
// viewer's reader of it and the function that stops it. The reader exists before the first
// frame is written, so it gets every frame from the start on, however late its owner reads:
// the stream keeps only a second behind its newest frame.
func (p *Player) Play(name string, start time.Duration) (*relay.Reader, func(), error) {
	f, ix, err := p.lib.openIndexed(name)
	if err != nil {
		return nil, nil, err
	}
	id := p.next.Add(1)
	pub, err := p.streams.Publish("play/" + strconv.FormatUint(id, 10))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("play %s: %w", name, err)
	}
	reader := pub.Stream().NewReader()
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cancel()
		reader.Close()
		pub.Close()
		f.Close()
		return nil, nil, relay.ErrClosed
	}
	p.stops[id] = cancel
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer f.Close()
		defer pub.Close()
		if _, err := pace(ctx, ix, f, pub.WriteFrame, start, 0, lead); err != nil && ctx.Err() == nil {
			p.lib.log.Warn("stored playback stopped", "name", name, "err", err)
		}
	}()
	stop := func() {
		cancel()
		p.mu.Lock()
		delete(p.stops, id)
		p.mu.Unlock()
	}
	return reader, stop, nil
}

// Tracks returns the tracks and duration of media name, for a description (RTSP's SDP).
func (p *Player) Tracks(name string) ([]*relay.Track, time.Duration, error) {
	f, ix, err := p.lib.openIndexed(name)
	if err != nil {
		return nil, 0, err
	}
	f.Close()
	return ix.Tracks, ix.Duration, nil
}

// KeyframeBefore returns where Play(name, t) starts: the time of the keyframe at or before t.
// Play's stream starts at zero; this is the file's time of that zero.
func (p *Player) KeyframeBefore(name string, t time.Duration) (time.Duration, error) {
	f, ix, err := p.lib.openIndexed(name)
	if err != nil {
		return 0, err
	}
	f.Close()
	if len(ix.Samples) == 0 {
		return 0, nil
	}
	return ix.Samples[ix.KeyframeBefore(t)].DTS, nil
}

// pace writes the samples from the keyframe at or before start on, each when its time comes
// (less ahead), with shift added to its times. It returns the wall-clock time the file's end
// is due at.
func pace(ctx context.Context, ix *Index, f *os.File, write func(*relay.Frame) error, start, shift, ahead time.Duration) (time.Time, error) {
	first := ix.KeyframeBefore(start)
	base, t0 := ix.Samples[first].DTS, time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := first; i < len(ix.Samples); i++ {
		if wait := time.Until(t0.Add(ix.Samples[i].DTS - base - ahead)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return time.Time{}, ctx.Err()
			case <-timer.C:
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

// Close stops every playback and waits for it.
func (p *Player) Close() {
	p.mu.Lock()
	p.closed = true
	for _, stop := range p.stops {
		stop()
	}
	p.mu.Unlock()
	p.wg.Wait()
	p.streams.Close()
}
