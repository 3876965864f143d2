package link

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// DefaultCloseAfter is how long an on-demand source stays connected after its last viewer.
const DefaultCloseAfter = 10 * time.Second

// Source is one path pulled from elsewhere.
type Source struct {
	URL string
	// OnDemand connects at the first viewer and hangs up CloseAfter after the last;
	// otherwise the source is kept connected always.
	OnDemand   bool
	CloseAfter time.Duration
}

// Links is every link the manager keeps: what it pulls, where from, where it pushes.
type Links struct {
	Sources map[string]Source // by path
	// Origins are the servers (rtmp://host:port) an edge pulls any live path it does not
	// have from, on demand, trying them in order.
	Origins []string
	Pushes  map[string][]string // by path: the URLs its stream is restreamed to
}

// Validate names the first link that cannot work.
func (l Links) Validate() error {
	for path, s := range l.Sources {
		if _, err := parseURL(s.URL, sourceSchemes); err != nil {
			return fmt.Errorf("paths: %s: source: %w", path, err)
		}
		if s.CloseAfter < 0 {
			return fmt.Errorf("paths: %s: on_demand_close_after %v: want >= 0", path, s.CloseAfter)
		}
	}
	for i, o := range l.Origins {
		u, err := parseURL(o, []string{"rtmp", "rtmps", "rtsp", "rtsps", "srt"})
		if err != nil {
			return fmt.Errorf("origin[%d]: %w", i, err)
		}
		if u.Scheme == "srt" {
			return fmt.Errorf("origin[%d] %s: an origin is rtmp://, rtmps://, rtsp:// or rtsps:// (SRT names its streams in streamid)", i, o)
		}
	}
	for path, targets := range l.Pushes {
		for i, t := range targets {
			if _, err := parseURL(t, pushSchemes); err != nil {
				return fmt.Errorf("paths: %s: push[%d]: %w", path, i, err)
			}
		}
	}
	return nil
}

var (
	sourceSchemes = []string{"rtmp", "rtmps", "rtsp", "rtsps", "srt", "http", "https"}
	pushSchemes   = []string{"rtmp", "rtmps", "srt", "rtsp", "rtsps"}
)

func parseURL(raw string, schemes []string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(schemes, u.Scheme) {
		return nil, fmt.Errorf("%s: want %s://", u.Redacted(), strings.Join(schemes, "://, ")+"")
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s: no host", u.Redacted())
	}
	return u, nil
}

// Manager runs the links: it is the registry's Sourcer for pulled paths, and starts a push
// relay for each target of a path when the path is published.
type Manager struct {
	relays  Relay
	viewers func(path string) int
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc

	mu       sync.Mutex
	links    Links
	sources  map[string]*source // configured, by path
	edges    map[string]*source // pulled from the origins, by path, while in use
	pushing  map[pushKey]*pusher
	reserved map[string]*reservation // origin connections taken for an edge's publishers (forward.go)
	stopWait func()
	wg       sync.WaitGroup
	onChange func(prev string, now Status)
}

// OnChange has f told of every change of a link's state (before Set starts any): f must not
// block.
func (m *Manager) OnChange(f func(prev string, now Status)) { m.onChange = f }

// New returns a manager with no links. viewers counts a path's viewers that have sessions
// (RTMP, RTSP, SRT, fMP4): an on-demand source stays up while there are any.
func New(relays Relay, viewers func(path string) int, log *slog.Logger) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{relays: relays, viewers: viewers, log: log, ctx: ctx, cancel: cancel,
		sources: map[string]*source{}, edges: map[string]*source{}, pushing: map[pushKey]*pusher{}, reserved: map[string]*reservation{}}
}

// Set replaces the links (start, or a reload): sources that changed restart, sources and
// pushes that went stop, new always-on sources connect. l must be valid.
func (m *Manager) Set(l Links) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.links
	m.links = l
	for path, src := range m.sources {
		if n, ok := l.Sources[path]; !ok || n != old.Sources[path] {
			go src.stop()
			delete(m.sources, path)
		}
	}
	for path, cfg := range l.Sources {
		if _, ok := m.sources[path]; ok {
			continue
		}
		u, _ := parseURL(cfg.URL, sourceSchemes)
		src := m.newSource("source", path, []*url.URL{u}, cfg.OnDemand, cfg.CloseAfter)
		m.sources[path] = src
		if !cfg.OnDemand {
			src.start(m.ctx)
		}
	}
	if !slices.Equal(old.Origins, l.Origins) {
		for path, e := range m.edges {
			go e.stop()
			delete(m.edges, path)
		}
	}
	m.prunePushes()
}

func (m *Manager) newSource(kind, path string, urls []*url.URL, onDemand bool, closeAfter time.Duration) *source {
	if closeAfter == 0 {
		closeAfter = DefaultCloseAfter
	}
	s := &source{path: path, urls: urls, onDemand: onDemand, closeAfter: closeAfter, relays: m.relays,
		viewers: m.viewers, log: m.log.With("link", kind)}
	shown := make([]string, len(urls))
	for i, u := range urls {
		shown[i] = redact(u)
	}
	s.st.s = Status{Kind: kind, Path: path, URL: strings.Join(shown, " "), State: StateIdle, Since: time.Now()}
	s.st.notify = m.onChange
	return s
}

// Demand implements relay.Sourcer: a configured source, or, on an edge, any path the
// origins may have, starts pulling; key goes on to the origins.
func (m *Manager) Demand(path, key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return false
	}
	if src, ok := m.sources[path]; ok {
		src.start(m.ctx)
		return true
	}
	_, forwarding := m.pushing[pushKey{path, forwardTarget}]
	if len(m.links.Origins) == 0 || len(m.links.Pushes[path]) > 0 || forwarding || m.reserved[path] != nil {
		return false // what is published here goes to the origins, never back from them
	}
	e, ok := m.edges[path]
	if !ok {
		var urls []*url.URL
		for _, o := range m.links.Origins {
			u, _ := parseURL(o, sourceSchemes)
			urls = append(urls, withKey(u.JoinPath(path), key))
		}
		e = m.newSource("origin", path, urls, true, DefaultCloseAfter)
		e.done = m.forgetEdge
		m.edges[path] = e
	}
	e.start(m.ctx)
	return true
}

// forgetEdge drops an origin pull that went idle.
func (m *Manager) forgetEdge(e *source) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.edges[e.path] == e {
		e.mu.Lock()
		idle := !e.running
		e.mu.Unlock()
		if idle {
			delete(m.edges, e.path)
		}
	}
}

// Links returns the state of every link, sorted by kind and path.
func (m *Manager) Links() []Status {
	m.mu.Lock()
	var out []Status
	for _, s := range m.sources {
		out = append(out, s.st.get())
	}
	for _, s := range m.edges {
		out = append(out, s.st.get())
	}
	for _, p := range m.pushing {
		out = append(out, p.st.get())
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int {
		return strings.Compare(a.Kind+" "+a.Path+" "+a.URL, b.Kind+" "+b.Path+" "+b.URL)
	})
	return out
}

// Close stops every link and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.cancel()
	stopWatch := m.stopWait
	m.mu.Unlock()
	// Outside mu: the registry may be delivering an event to startPushes, which takes mu.
	if stopWatch != nil {
		stopWatch()
	}
	m.mu.Lock()
	all := slices.Collect(maps.Values(m.sources))
	all = append(all, slices.Collect(maps.Values(m.edges))...)
	pushers := slices.Collect(maps.Values(m.pushing))
	for path, r := range m.reserved {
		r.timer.Stop()
		r.pub.Close()
		delete(m.reserved, path)
	}
	m.mu.Unlock()
	for _, s := range all {
		s.stop()
	}
	for _, p := range pushers {
		p.wait()
	}
	m.wg.Wait()
}

var _ relay.Sourcer = (*Manager)(nil)
