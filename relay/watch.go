package relay

// EventKind says what happened to a stream.
type EventKind int

const (
	// StreamStarted: a path went live with a new Stream (not a hand-over).
	StreamStarted EventKind = iota
	// PublisherJoined: a publisher took the stream, the first one or one taking over.
	PublisherJoined
	// PublisherLeft: the publisher left; the stream waits out its grace window.
	PublisherLeft
	// StreamEnded: the stream is over for good; its readers drain and end.
	StreamEnded
)

func (k EventKind) String() string {
	switch k {
	case StreamStarted:
		return "started"
	case PublisherJoined:
		return "publisher joined"
	case PublisherLeft:
		return "publisher left"
	case StreamEnded:
		return "ended"
	}
	return "unknown"
}

// Event is one change in the registry, delivered to watchers in the order it happened.
type Event struct {
	Kind   EventKind
	Stream *Stream
}

type watcher struct{ fn func(Event) }

// Watch calls fn for every event from now on, first with StreamStarted (and PublisherJoined
// where a publisher is on) for each stream already live, so a watcher that starts late misses
// none. Work that begins at publish (recording, push relays, metrics) hangs here. fn is called
// from the goroutine that caused the event, never concurrently with itself, and must not
// block: start a goroutine for anything slow. Calling stop ends the calls.
func (g *Registry) Watch(fn func(Event)) (stop func()) {
	w := &watcher{fn: fn}
	g.deliver.Lock() // no event is delivered between the snapshot and the registration
	g.mu.Lock()
	var backlog []Event
	for _, s := range g.streams {
		backlog = append(backlog, Event{StreamStarted, s})
		s.mu.Lock()
		if s.publisher != nil {
			backlog = append(backlog, Event{PublisherJoined, s})
		}
		s.mu.Unlock()
	}
	g.watchers = append(append([]*watcher{}, g.watchers...), w)
	g.mu.Unlock()
	for _, ev := range backlog {
		fn(ev)
	}
	g.deliver.Unlock()
	return func() {
		g.deliver.Lock()
		defer g.deliver.Unlock()
		g.mu.Lock()
		defer g.mu.Unlock()
		var ws []*watcher
		for _, o := range g.watchers {
			if o != w {
				ws = append(ws, o)
			}
		}
		g.watchers = ws
	}
}

// emit queues an event. The caller holds mu and calls deliverEvents after letting go of it.
func (g *Registry) emit(k EventKind, s *Stream) {
	if len(g.watchers) > 0 {
		g.pending = append(g.pending, Event{k, s})
	}
}

// deliverEvents hands queued events to the watchers, outside mu so a watcher may call back
// into the registry.
func (g *Registry) deliverEvents() {
	g.deliver.Lock()
	defer g.deliver.Unlock()
	g.mu.Lock()
	events, watchers := g.pending, g.watchers
	g.pending = nil
	g.mu.Unlock()
	for _, ev := range events {
		for _, w := range watchers {
			w.fn(ev)
		}
	}
}
