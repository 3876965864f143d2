// Package session keeps the book of who is connected: every publisher and viewer of every
// protocol with its counters, so that the control API can list and end them and metrics can
// sum them. A protocol server opens a Session when a peer starts to publish or play and closes
// it when the peer is gone; a session's own counters cost one atomic add per write.
package session

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// Kind says whether a session sends frames in or takes them out.
type Kind string

// The kinds of session.
const (
	Publish Kind = "publish"
	Read    Kind = "read"
)

// Info describes a session; it does not change while the session lasts.
type Info struct {
	Protocol  string // rtmp, rtsp, web
	Kind      Kind
	Path      string // relay path; a stored file's is vod/NAME
	Remote    string // the peer's address
	Transport string // how the media go, where a protocol has several (RTSP: TCP, UDP, UDP-multicast)
}

// Counts are a session's traffic so far.
type Counts struct {
	BytesIn  uint64 // from the peer
	BytesOut uint64 // to the peer
	Dropped  uint64 // frames (RTSP over UDP: packets) the peer did not get because it fell behind
}

func (c Counts) add(d Counts) Counts {
	return Counts{c.BytesIn + d.BytesIn, c.BytesOut + d.BytesOut, c.Dropped + d.Dropped}
}

// Session is one publisher or viewer. Its methods are safe for concurrent use.
type Session struct {
	Info
	ID    string
	Since time.Time

	t             *Table
	seq           uint64
	in, out, drop atomic.Uint64
	closed        atomic.Bool

	mu     sync.Mutex
	kick   func()
	counts func() Counts // counters kept elsewhere: a library's, a relay reader's

	// Under the table's lock: the last rate sample (see Snapshot.Bitrate).
	rateAt    time.Time
	rateBytes uint64
	rate      uint64
}

// ErrKicked is why a session ended from outside (the control API) ended.
var ErrKicked = errors.New("ended by the control API")

// AddIn counts n bytes received from the peer. A nil Session counts nothing.
func (s *Session) AddIn(n int) {
	if s != nil {
		s.in.Add(uint64(n))
	}
}

// AddOut counts n bytes sent to the peer.
func (s *Session) AddOut(n int) {
	if s != nil {
		s.out.Add(uint64(n))
	}
}

// AddDropped counts n frames the peer missed.
func (s *Session) AddDropped(n uint64) {
	if s != nil {
		s.drop.Add(n)
	}
}

// OnKick sets what ending the session from outside does (close its connection). A session
// without one cannot be kicked.
func (s *Session) OnKick(f func()) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.kick = f
	s.mu.Unlock()
}

// CountFrom adds counters kept elsewhere to the session's own, read whenever the session is.
func (s *Session) CountFrom(f func() Counts) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.counts = f
	s.mu.Unlock()
}

// Counts returns the session's traffic so far.
func (s *Session) Counts() Counts {
	c := Counts{s.in.Load(), s.out.Load(), s.drop.Load()}
	s.mu.Lock()
	f := s.counts
	s.mu.Unlock()
	if f != nil {
		c = c.add(f())
	}
	return c
}

// Close takes the session out of the book; err is why it ended (nil: the peer left). A reader
// closed with relay.ErrTooSlow counts as one closed for being too slow. Close is idempotent.
func (s *Session) Close(err error) {
	if s == nil || s.closed.Swap(true) {
		return
	}
	s.t.remove(s, errors.Is(err, relay.ErrTooSlow))
	s.t.tell(Change{Snapshot: Snapshot{ID: s.ID, Info: s.Info, Since: s.Since, Counts: s.Counts()}, Ended: true, Err: err})
}

// Kick ends the session as if its peer had broken off; it reports whether it could.
func (s *Session) Kick() bool {
	s.mu.Lock()
	f := s.kick
	s.mu.Unlock()
	if f == nil || s.closed.Load() {
		return false
	}
	f()
	return true
}

// Totals are one protocol's traffic over every session, ended or not, and the sessionless
// traffic (HLS requests).
type Totals struct {
	Counts
	TooSlow uint64 // readers closed because they kept falling behind
}

// Change is a session entering the book (Ended false) or leaving it, as observers see it.
type Change struct {
	Snapshot
	Ended bool
	Err   error // why it ended (nil: the peer left)
}

// Table is the book of sessions. The zero value is ready; it is safe for concurrent use.
type Table struct {
	observers atomic.Pointer[[]func(Change)]

	mu    sync.Mutex
	next  uint64
	live  map[string]*Session
	ended map[string]Totals // by protocol: what ended sessions did
	paths map[string]Counts // by path: what ended sessions did (bounded by maxPaths)
	sent  sync.Map          // protocol → *atomic.Uint64: bytes sent outside sessions
}

// Observe has f told of every session that enters or leaves the book from now on, in the
// order they do so for each session; f must not block (webhooks queue what they send).
func (t *Table) Observe(f func(Change)) {
	for {
		old := t.observers.Load()
		var fs []func(Change)
		if old != nil {
			fs = append(fs, *old...)
		}
		fs = append(fs, f)
		if t.observers.CompareAndSwap(old, &fs) {
			return
		}
	}
}

func (t *Table) tell(c Change) {
	if fs := t.observers.Load(); fs != nil {
		for _, f := range *fs {
			f(c)
		}
	}
}

// Open enters a new session. Close it when the peer is gone.
func (t *Table) Open(info Info) *Session {
	t.mu.Lock()
	t.next++
	s := &Session{Info: info, ID: strconv.FormatUint(t.next, 10), Since: time.Now(), t: t, seq: t.next}
	if t.live == nil {
		t.live = map[string]*Session{}
	}
	t.live[s.ID] = s
	t.mu.Unlock()
	t.tell(Change{Snapshot: Snapshot{ID: s.ID, Info: info, Since: s.Since}})
	return s
}

func (t *Table) remove(s *Session, tooSlow bool) {
	c := s.Counts()
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.live, s.ID)
	if t.ended == nil {
		t.ended = map[string]Totals{}
	}
	tot := t.ended[s.Protocol]
	tot.Counts = tot.Counts.add(c)
	if tooSlow {
		tot.TooSlow++
	}
	t.ended[s.Protocol] = tot
	if t.paths == nil {
		t.paths = map[string]Counts{}
	}
	t.paths[s.Path] = t.paths[s.Path].add(c)
	if len(t.paths) > maxPaths {
		t.prunePaths()
	}
}

// maxPaths bounds the paths whose ended sessions' traffic is kept.
const maxPaths = 10000

// prunePaths forgets the traffic of paths nobody is connected to. Called with mu held.
func (t *Table) prunePaths() {
	busy := map[string]bool{}
	for _, s := range t.live {
		busy[s.Path] = true
	}
	for p := range t.paths {
		if !busy[p] {
			delete(t.paths, p)
		}
	}
}

// ByPath returns each path's traffic so far, over ended and live sessions. A path nobody has
// been connected to for a while may start again from zero.
func (t *Table) ByPath() map[string]Counts {
	t.mu.Lock()
	out := maps.Clone(t.paths)
	t.mu.Unlock()
	if out == nil {
		out = map[string]Counts{}
	}
	for _, s := range t.sessions() {
		out[s.Path] = out[s.Path].add(s.Counts())
	}
	return out
}

// AddOut counts bytes sent by protocol outside any session (an HLS playlist or part).
func (t *Table) AddOut(protocol string, n int) {
	c, ok := t.sent.Load(protocol)
	if !ok {
		c, _ = t.sent.LoadOrStore(protocol, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(uint64(n))
}

// Get returns the live session id, or nil.
func (t *Table) Get(id string) *Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live[id]
}

// sessions returns the live sessions, in the order they opened.
func (t *Table) sessions() []*Session {
	t.mu.Lock()
	out := make([]*Session, 0, len(t.live))
	for _, s := range t.live {
		out = append(out, s)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b *Session) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// Snapshot is a session as the control API shows it.
type Snapshot struct {
	Info
	ID    string
	Since time.Time
	Counts
	// Bitrate is what the peer sent (publishers) or got (readers), in bits per second, over
	// the time since the previous snapshot of the session (at least a second before), or
	// since it opened.
	Bitrate uint64
}

// List returns a snapshot of every live session, oldest first.
func (t *Table) List() []Snapshot {
	now := time.Now()
	live := t.sessions()
	out := make([]Snapshot, len(live))
	for i, s := range live {
		c := s.Counts()
		out[i] = Snapshot{Info: s.Info, ID: s.ID, Since: s.Since, Counts: c, Bitrate: t.rate(s, c, now)}
	}
	return out
}

func (t *Table) rate(s *Session, c Counts, now time.Time) uint64 {
	bytes := c.BytesOut
	if s.Kind == Publish {
		bytes = c.BytesIn
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	from, base := s.rateAt, s.rateBytes
	if from.IsZero() {
		from, base = s.Since, 0
	}
	if dt := now.Sub(from); dt >= time.Second || s.rateAt.IsZero() {
		if dt > 0 {
			s.rate = uint64(float64(bytes-base) * 8 / dt.Seconds())
		}
		s.rateAt, s.rateBytes = now, bytes
	}
	return s.rate
}

// Totals returns each protocol's traffic so far, over ended and live sessions.
func (t *Table) Totals() map[string]Totals {
	t.mu.Lock()
	out := maps.Clone(t.ended)
	t.mu.Unlock()
	if out == nil {
		out = map[string]Totals{}
	}
	for _, s := range t.sessions() {
		tot := out[s.Protocol]
		tot.Counts = tot.Counts.add(s.Counts())
		out[s.Protocol] = tot
	}
	t.sent.Range(func(p, c any) bool {
		tot := out[p.(string)]
		tot.BytesOut += c.(*atomic.Uint64).Load()
		out[p.(string)] = tot
		return true
	})
	return out
}

// Readers returns, for one protocol, the paths that have viewers with their counts.
func (t *Table) Readers(protocol string) map[string]int {
	out := map[string]int{}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.live {
		if s.Kind == Read && s.Protocol == protocol {
			out[s.Path]++
		}
	}
	return out
}

// Viewers returns how many viewers path has now, over every protocol that keeps sessions.
func (t *Table) Viewers(path string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, s := range t.live {
		if s.Kind == Read && s.Path == path {
			n++
		}
	}
	return n
}

// KickPath ends every live session of kind on path and returns how many it ended.
func (t *Table) KickPath(kind Kind, path string) int {
	n := 0
	for _, s := range t.sessions() {
		if s.Kind == kind && s.Path == path && s.Kick() {
			n++
		}
	}
	return n
}
