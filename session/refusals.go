package session

import (
	"sync"
	"sync/atomic"
)

// Refusal is one kind of refused request: a publish or a play, and why.
type Refusal struct {
	Kind   string // "publish" or "play"
	Reason string // e.g. "unauthorized", "not_found", "already_publishing"
}

// Refusals counts refused requests of one protocol, for metrics. The zero value is ready;
// it is safe for concurrent use.
type Refusals struct {
	m sync.Map // Refusal → *atomic.Uint64
}

// Add counts one refusal.
func (r *Refusals) Add(kind, reason string) {
	c, _ := r.m.LoadOrStore(Refusal{kind, reason}, new(atomic.Uint64))
	c.(*atomic.Uint64).Add(1)
}

// Counts returns every refusal counted so far.
func (r *Refusals) Counts() map[Refusal]uint64 {
	out := map[Refusal]uint64{}
	r.m.Range(func(k, c any) bool {
		out[k.(Refusal)] = c.(*atomic.Uint64).Load()
		return true
	})
	return out
}
