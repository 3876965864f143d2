package ladder

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// Config is what the ladders are.
type Config struct {
	// Ladders are the rungs of each path, highest first.
	Ladders map[string][]Rung
	// Encoder is libx264, h264_nvenc, h264_vaapi, h264_qsv, or auto (a hardware one where
	// there is one).
	Encoder string
	// CloseAfter is how long a rung runs on after its last viewer.
	CloseAfter time.Duration
	// FFmpeg is the ffmpeg binary.
	FFmpeg string
}

// DefaultConfig returns the defaults: no ladder.
func DefaultConfig() Config {
	return Config{Encoder: EncoderAuto, CloseAfter: 10 * time.Second, FFmpeg: "ffmpeg"}
}

// Relays is what the manager needs of the relay.
type Relays interface {
	Lookup(path string) (*relay.Stream, error)
	PublishRendition(main *relay.Stream, label string) (*relay.Publisher, error)
	LastDemand(path string) time.Time
	ForgetDemand(path string)
	DemandFailed(path string, err error)
}

// Manager runs the rungs of every path's ladder that someone watches.
type Manager struct {
	relays  Relays
	viewers func(path string) int
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	cfg     Config
	encoder string                 // what auto chose; "" until first needed
	running map[string]*transcoder // by rendition path
	spent   map[string]Stat        // CPU of the rungs' processes that ended, by rendition path
}

// New returns a manager; viewers counts a path's viewers with sessions (RTMP, RTSP…), and
// HLS viewers are those who asked within CloseAfter (relay.Registry.LastDemand).
func New(cfg Config, relays Relays, viewers func(path string) int, log *slog.Logger) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, relays: relays, viewers: viewers, log: log, ctx: ctx, cancel: cancel,
		running: map[string]*transcoder{}, spent: map[string]Stat{}}
}

// Set replaces the configuration (a reload); running rungs of a path whose ladder no longer
// has them stop at their next check.
func (m *Manager) Set(cfg Config) {
	m.mu.Lock()
	if cfg.Encoder != m.cfg.Encoder {
		m.encoder = ""
	}
	m.cfg = cfg
	m.mu.Unlock()
}

// Rungs are the rungs of main's ladder that are below its source (a rung as high as the
// source is the source itself), highest first; none while main is not live.
func (m *Manager) Rungs(main *relay.Stream) []Rung {
	m.mu.Lock()
	rungs := m.cfg.Ladders[main.Path()]
	m.mu.Unlock()
	if len(rungs) == 0 {
		return nil
	}
	video, _ := relay.FirstTracks(main.Tracks(), nil)
	if video == nil || video.Height == 0 {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(rungs), func(r Rung) bool { return r.Height >= video.Height })
}

// Demand implements relay.Sourcer for the rungs: a viewer's request for APP/NAME~480p of
// a live APP/NAME whose ladder has a 480p rung below the source starts it.
func (m *Manager) Demand(path, _ string) bool {
	mainPath, label, ok := strings.Cut(path, relay.RenditionSep)
	if !ok {
		return false
	}
	main, err := m.relays.Lookup(mainPath)
	if err != nil {
		return false
	}
	for _, r := range m.Rungs(main) {
		if r.Label() == label {
			m.start(main, path, r)
			return true
		}
	}
	return false
}

func (m *Manager) start(main *relay.Stream, path string, r Rung) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running[path] != nil || m.ctx.Err() != nil {
		return
	}
	if m.encoder == "" {
		m.encoder = m.cfg.Encoder
		if m.encoder == EncoderAuto || m.encoder == "" {
			m.encoder = ChooseEncoder(m.ctx, m.cfg.FFmpeg)
		}
	}
	t := &transcoder{m: m, main: main, path: path, rung: r, encoder: m.encoder, ffmpeg: m.cfg.FFmpeg, started: time.Now(),
		closeAfter: m.cfg.CloseAfter, log: m.log.With("path", path, "rung", r.String(), "encoder", m.encoder)}
	m.running[path] = t
	m.wg.Go(func() {
		t.run(m.ctx)
		m.mu.Lock()
		delete(m.running, path)
		st := m.spent[path]
		st.Path, st.Main, st.Rung, st.Encoder = path, main.Path(), r, t.encoder
		st.CPU += t.cpu()
		m.spent[path] = st
		m.mu.Unlock()
		m.relays.ForgetDemand(path)
	})
}

// wanted says whether the rung at path still has a place in its ladder and a viewer: one
// connected, or one that asked within closeAfter.
func (m *Manager) wanted(t *transcoder) bool {
	m.mu.Lock()
	rungs := m.cfg.Ladders[t.main.Path()]
	m.mu.Unlock()
	if !slices.Contains(rungs, t.rung) {
		return false
	}
	if !t.pictured.Load() { // its first viewers wait for its first picture
		return time.Since(t.started) < startLimit
	}
	last := m.relays.LastDemand(t.path)
	if at := time.Unix(0, t.pictureAt.Load()); at.After(last) {
		last = at
	}
	return m.viewers(t.path) > 0 || time.Since(last) < t.closeAfter
}

// startLimit bounds a rung's wait for ffmpeg's first picture.
const startLimit = 30 * time.Second

// Stat is what one rung has cost: the CPU time of its ffmpeg processes.
type Stat struct {
	Path, Main string
	Rung       Rung
	Encoder    string
	Running    bool
	CPU        time.Duration
}

// Stats are the rungs that ran since the start, by path.
func (m *Manager) Stats() []Stat {
	m.mu.Lock()
	defer m.mu.Unlock()
	byPath := map[string]Stat{}
	for p, st := range m.spent {
		byPath[p] = st
	}
	for p, t := range m.running {
		st := byPath[p]
		st.Path, st.Main, st.Rung, st.Encoder, st.Running = p, t.main.Path(), t.rung, t.encoder, true
		st.CPU += t.cpu()
		byPath[p] = st
	}
	out := make([]Stat, 0, len(byPath))
	for _, st := range byPath {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Stat) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Close stops every rung and waits for them.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}
