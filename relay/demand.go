package relay

import (
	"context"
	"fmt"
	"time"
)

// Sourcer brings the stream of a path nobody publishes when a viewer asks for it: a pull
// source, an origin an edge pulls from. Demand must not block: it starts the source if it
// is not running and reports whether path is one it serves. A source that gives up tells
// the waiting viewers with Registry.DemandFailed.
type Sourcer interface {
	Demand(path, key string) bool
}

// SetSourcer makes s the registry's Sourcer (nil: none); Demand asks it for paths nobody
// publishes.
func (g *Registry) SetSourcer(s Sourcer) {
	g.mu.Lock()
	g.sourcer = s
	g.mu.Unlock()
}

// demandWait bounds how long a viewer waits for a source to bring its stream's first
// keyframe, when the viewer's context allows longer.
const demandWait = 10 * time.Second

// Demand returns the stream at path for a viewer, as Lookup does, and notes that a viewer
// asked (LastDemand). A path nobody publishes is asked of the Sourcer with the viewer's key;
// when the Sourcer serves it, Demand waits for the stream's first keyframe (or, for a stream
// without video, its tracks) rather than answering ErrNotFound.
func (g *Registry) Demand(ctx context.Context, path, key string) (*Stream, error) {
	if err := ValidatePath(path); err != nil {
		return nil, err
	}
	g.mu.Lock()
	src := g.sourcer
	s := g.streams[path]
	live := s != nil && s.publishing()
	g.mu.Unlock()
	if live {
		g.noteDemand(path, src)
		return s, nil
	}
	if src == nil || !src.Demand(path, key) {
		if s != nil { // in its grace window: its readers wait for the publisher's return
			return s, nil
		}
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	g.noteDemand(path, src)
	if s != nil {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(ctx, demandWait)
	defer cancel()
	return g.awaitSource(ctx, path)
}

// noteDemand records when a sourced path was last asked for.
func (g *Registry) noteDemand(path string, src Sourcer) {
	if src == nil {
		return
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.demanded == nil {
		g.demanded = map[string]time.Time{}
	}
	g.demanded[path] = now
	if len(g.demanded) > maxDemanded { // live paths that are not sourced are noted too
		for p, at := range g.demanded {
			if now.Sub(at) > demandKept {
				delete(g.demanded, p)
			}
		}
	}
}

// maxDemanded and demandKept bound what LastDemand remembers: past maxDemanded paths, those
// nobody asked for in demandKept (longer than any close-after time) are forgotten.
const (
	maxDemanded = 10000
	demandKept  = 10 * time.Minute
)

// LastDemand returns when a viewer last asked for path through Demand (zero: never since
// the source started). A source that serves viewers without sessions of their own (HLS
// requests) stays up while they keep asking.
func (g *Registry) LastDemand(path string) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.demanded[path]
}

// ForgetDemand drops what LastDemand knows of path: its source stopped.
func (g *Registry) ForgetDemand(path string) {
	g.mu.Lock()
	delete(g.demanded, path)
	g.mu.Unlock()
}

// DemandFailed ends the wait of every viewer waiting in Demand for path with err: its source
// could not be reached.
func (g *Registry) DemandFailed(path string, err error) {
	g.mu.Lock()
	a := g.arrivals[path]
	if a != nil {
		delete(g.arrivals, path)
		a.err = err
		close(a.ch)
	}
	g.mu.Unlock()
}

// arrival is closed when a path nobody published gets a publisher, or its source failed.
type arrival struct {
	ch  chan struct{}
	err error
}

// awaitSource waits for path's publisher and then its first keyframe.
func (g *Registry) awaitSource(ctx context.Context, path string) (*Stream, error) {
	g.mu.Lock()
	s := g.streams[path]
	var a *arrival
	if s == nil {
		if a = g.arrivals[path]; a == nil {
			a = &arrival{ch: make(chan struct{})}
			if g.arrivals == nil {
				g.arrivals = map[string]*arrival{}
			}
			g.arrivals[path] = a
		}
	}
	g.mu.Unlock()
	if a != nil {
		select {
		case <-a.ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: its source sent nothing in time: %w", path, ErrNotFound)
		}
		if a.err != nil {
			return nil, fmt.Errorf("%s: %w: %w", path, ErrNotFound, a.err)
		}
		var err error
		if s, err = g.Lookup(path); err != nil {
			return nil, err
		}
	}
	if err := s.awaitStart(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// arrived wakes the viewers waiting for path to be published. The caller holds mu.
func (g *Registry) arrived(path string) {
	if a := g.arrivals[path]; a != nil {
		delete(g.arrivals, path)
		close(a.ch)
	}
}

// awaitStart waits until a reader that starts now gets a picture at once: the stream's
// first video keyframe, or its tracks when it has no video.
func (s *Stream) awaitStart(ctx context.Context) error {
	tracks, err := s.WaitTracks(ctx, TrackSettle)
	if err != nil {
		return err
	}
	if !tracks[0].Codec.IsVideo() {
		return nil
	}
	select {
	case <-s.keyed:
		return nil
	case <-s.done:
		return fmt.Errorf("%s: %w", s.path, ErrEnded)
	case <-ctx.Done():
		return fmt.Errorf("%s has no keyframe yet: %w", s.path, ErrNotFound)
	}
}

// publishing reports whether the stream has a publisher now.
func (s *Stream) publishing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publisher != nil
}
