package relay

import (
	"sync"
	"sync/atomic"
)

// Viewers counts the viewers of each path for one protocol. The zero value is ready; it is
// safe for concurrent use.
type Viewers struct {
	m sync.Map // path → *atomic.Int64
}

// Add changes the count of path by n (1 on join, -1 on leave).
func (v *Viewers) Add(path string, n int) {
	c, _ := v.m.LoadOrStore(path, new(atomic.Int64))
	c.(*atomic.Int64).Add(int64(n))
}

// Viewers returns the paths that have viewers, with their counts.
func (v *Viewers) Viewers() map[string]int {
	out := map[string]int{}
	v.m.Range(func(k, c any) bool {
		if n := c.(*atomic.Int64).Load(); n > 0 {
			out[k.(string)] = int(n)
		}
		return true
	})
	return out
}
