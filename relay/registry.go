package relay

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Registry holds the live streams by path.
type Registry struct {
	cfg     Config
	mu      sync.Mutex // taken before any Stream.mu
	streams map[string]*Stream
	closed  bool

	ingested map[string]Ingest // by protocol, of publishers gone; under mu

	watchers []*watcher // copy on write, under mu
	pending  []Event    // events not yet delivered, in order; under mu
	deliver  sync.Mutex // held while events are delivered, so watchers see them in order

	sourcer  Sourcer              // under mu
	demanded map[string]time.Time // sourced path → when a viewer last asked; under mu
	arrivals map[string]*arrival  // paths viewers wait to be published; under mu
	standby  standbys
	mainOf   func(path string) string // under mu
}

// NewRegistry returns an empty registry. cfg must be valid (Config.Validate).
func NewRegistry(cfg Config) *Registry {
	return &Registry{cfg: cfg, streams: make(map[string]*Stream)}
}

// SetLimits changes the limit of live streams and the grace window (a reload). Streams over
// a lowered limit stay; a grace window already running keeps its length.
func (g *Registry) SetLimits(maxStreams int, grace time.Duration) {
	g.mu.Lock()
	g.cfg.MaxStreams, g.cfg.Grace = maxStreams, grace
	g.mu.Unlock()
}

// Publish makes the caller the publisher of path. A stream in its grace window is taken over
// with its readers; a stream that has a publisher gives ErrAlreadyPublishing.
func (g *Registry) Publish(path string) (*Publisher, error) {
	if err := ValidatePath(path); err != nil {
		return nil, err
	}
	if IsRendition(path) {
		return nil, fmt.Errorf("%w %q: a rendition comes with its stream's publisher", ErrInvalidPath, path)
	}
	return g.publish(path, nil, nil)
}

// PublishRendition makes the caller the publisher of rendition label of main, made here
// from main's frames (a transcoder): its frames are on main's timeline already. It lasts
// as long as its maker wants, not as main's publisher does.
func (g *Registry) PublishRendition(main *Stream, label string) (*Publisher, error) {
	if err := validateSegment(label); err != nil {
		return nil, fmt.Errorf("%w: rendition %q: %v", ErrInvalidPath, label, err)
	}
	return g.publish(main.path+RenditionSep+label, nil, main)
}

// publish makes a publisher of path. A rendition's has parent, whose clock it shares and
// with whom it leaves, or (made from main's frames) main, whose timeline its frames are on.
func (g *Registry) publish(path string, parent *Publisher, main *Stream) (*Publisher, error) {
	defer g.deliverEvents()
	g.mu.Lock()
	defer g.mu.Unlock()
	if parent != nil && parent.closed || main != nil && main.ended.Load() {
		return nil, ErrEnded
	}
	if g.closed {
		return nil, ErrClosed
	}
	s, ok := g.streams[path]
	if !ok {
		if g.cfg.MaxStreams > 0 && len(g.streams) >= g.cfg.MaxStreams {
			return nil, fmt.Errorf("publish %s: %w (limit %d)", path, ErrTooManyStreams, g.cfg.MaxStreams)
		}
		s = newStream(path, g.cfg)
		g.streams[path] = s
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publisher != nil && !s.publisher.standing() || s.pending != nil {
		return nil, fmt.Errorf("publish %s: %w", path, ErrAlreadyPublishing)
	}
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	p := &Publisher{s: s, g: g, clock: &groupClock{}}
	switch {
	case parent != nil:
		p.clock = parent.clock
		parent.renditions = append(parent.renditions, p)
		main = parent.s
	case main != nil:
		p.clock = &groupClock{set: true} // no offset: main's timeline
	}
	if main != nil {
		s.parent.Store(main)
		main.addRendition(s)
	}
	if s.publisher != nil {
		s.pending = p // the standby plays on until p's first keyframe (takeOver)
	} else {
		s.publisher = p
	}
	g.arrived(path)
	s.gen++
	if !ok {
		s.since = time.Now()
		g.emit(StreamStarted, s)
	}
	// On a hand-over s.since still says when the last publisher left: the first frame
	// measures the gap from it (firstDTS) and then moves it.
	g.emit(PublisherJoined, s)
	return p, nil
}

func (g *Registry) unpublish(p *Publisher) {
	defer g.deliverEvents()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.unpublishLocked(p)
}

// unpublishLocked ends p's turn and its renditions'. The caller holds g.mu.
func (g *Registry) unpublishLocked(p *Publisher) {
	for _, r := range p.renditions {
		g.unpublishLocked(r)
	}
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if s.pending == p {
		s.pending = nil
		g.emit(PublisherLeft, s)
		return
	}
	if s.publisher != p {
		return
	}
	s.publisher = nil
	if p.standing() {
		g.remove(s) // the standby gave up: nothing is left to show
		return
	}
	s.since = time.Now()
	if g.ingested == nil {
		g.ingested = map[string]Ingest{}
	}
	in := g.ingested[p.protocolName()]
	in.Frames, in.Bytes = in.Frames+p.frames, in.Bytes+p.bytes
	g.ingested[p.protocolName()] = in
	g.emit(PublisherLeft, s)
	if g.cfg.Grace == 0 || g.closed {
		g.remove(s)
		return
	}
	gen := s.gen
	s.grace = time.AfterFunc(g.cfg.Grace, func() { g.expire(s, gen) })
}

// expire ends a stream whose grace window passed with no new publisher.
func (g *Registry) expire(s *Stream, gen uint64) {
	defer g.deliverEvents()
	g.mu.Lock()
	defer g.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publisher == nil && s.gen == gen && !g.startStandby(s) {
		g.remove(s)
	}
}

// remove ends s and forgets it. The caller holds g.mu and s.mu.
func (g *Registry) remove(s *Stream) {
	if g.streams[s.path] == s {
		delete(g.streams, s.path)
	}
	if main := s.parent.Load(); main != nil {
		main.removeRendition(s)
	}
	if !s.ended.Load() {
		g.emit(StreamEnded, s)
	}
	s.end()
}

// Ingest is what the publishers of one protocol have written since the registry started,
// and how many publish now.
type Ingest struct {
	Frames, Bytes uint64
	Publishers    int
}

// Ingest returns the Ingest of every protocol that has published: counters that only grow,
// for metrics.
func (g *Registry) Ingest() map[string]Ingest {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]Ingest, len(g.ingested)+1)
	for proto, in := range g.ingested {
		out[proto] = Ingest{Frames: in.Frames, Bytes: in.Bytes}
	}
	for _, s := range g.streams {
		s.mu.Lock()
		if p := s.publisher; p != nil && !p.standing() {
			in := out[p.protocolName()]
			in.Frames, in.Bytes, in.Publishers = in.Frames+p.frames, in.Bytes+p.bytes, in.Publishers+1
			out[p.protocolName()] = in
		}
		s.mu.Unlock()
	}
	return out
}

// Lookup returns the live stream at path, including one in its grace window.
func (g *Registry) Lookup(path string) (*Stream, error) {
	if err := ValidatePath(path); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.streams[path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	return s, nil
}

// Streams returns the live streams sorted by path.
func (g *Registry) Streams() []*Stream {
	g.mu.Lock()
	list := make([]*Stream, 0, len(g.streams))
	for _, s := range g.streams {
		list = append(list, s)
	}
	g.mu.Unlock()
	slices.SortFunc(list, func(a, b *Stream) int { return cmp.Compare(a.path, b.path) })
	return list
}

// Close ends every stream; readers drain and get ErrEnded, publishers get ErrEnded. It
// returns when every standby has stopped.
func (g *Registry) Close() {
	g.closeStreams()
	g.standby.wg.Wait() // a standby's publisher leaves through the registry: not under mu
}

func (g *Registry) closeStreams() {
	defer g.deliverEvents()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for path, a := range g.arrivals {
		delete(g.arrivals, path)
		a.err = ErrClosed
		close(a.ch)
	}
	for _, s := range g.streams {
		s.mu.Lock()
		g.remove(s)
		s.mu.Unlock()
	}
}
