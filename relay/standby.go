package relay

import (
	"context"
	"sync"
	"time"
)

// Standby plays on a stream while its publisher is away past the grace window (an offline
// slate): it writes to pub, whose Tracks it may read from s, until ctx ends or a write
// fails. Viewers stay on the stream; a publisher that comes back takes over at its first
// video keyframe, with timestamps that run on. A standby that returns ends the stream.
type Standby func(ctx context.Context, s *Stream, pub *Publisher)

// standbyAudioOnly is how long a publisher taking over from a standby may send frames
// without video before it takes over anyway, at an audio frame: it has no video to wait for.
const standbyAudioOnly = time.Second

// standbys runs the standbys of a registry; Close stops them all and waits.
type standbys struct {
	of func(path string) Standby // under Registry.mu
	wg sync.WaitGroup
}

// SetStandby sets what plays on a path while its publisher is away past the grace window:
// of returns nil for a path whose stream ends then, as without. of is called with the
// registry's lock held and must not block or call the registry.
func (g *Registry) SetStandby(of func(path string) Standby) {
	g.mu.Lock()
	g.standby.of = of
	g.mu.Unlock()
}

// startStandby puts a standby publisher on s, whose grace window passed, and reports whether
// it did. The caller holds g.mu and s.mu.
func (g *Registry) startStandby(s *Stream) bool {
	if g.standby.of == nil || g.closed || s.framesIn.Load() == 0 {
		return false
	}
	play := g.standby.of(s.path)
	if play == nil {
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{s: s, g: g, protocol: "standby", stop: cancel}
	s.publisher = p
	s.gen++
	g.standby.wg.Go(func() {
		defer cancel()
		play(ctx, s, p)
		p.Close()
	})
	return true
}

// takeOver makes p, a publisher that joined while a standby played, the stream's publisher
// when f is where it may start (its first video keyframe), and reports whether it did. The
// caller holds s.mu.
func (p *Publisher) takeOver(f *Frame) bool {
	s := p.s
	if f.Track.Codec.IsVideo() {
		p.sawVideo = true
	}
	if !p.sawFrame {
		p.sawFrame, p.firstSeen = true, f.DTS
	}
	switch {
	case f.isVideoKey():
	case !p.sawVideo && f.DTS-p.firstSeen >= standbyAudioOnly:
	default:
		return false
	}
	if sb := s.publisher; sb != nil {
		sb.closed = true
		sb.stop()
	}
	s.publisher, s.pending = p, nil
	s.since = time.Now() // the standby's frames ran until now: the gap is the least one
	return true
}

// standing reports whether p is a standby. The caller holds s.mu.
func (p *Publisher) standing() bool { return p != nil && p.stop != nil }
