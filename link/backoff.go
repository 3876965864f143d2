package link

import (
	"context"
	"time"
)

// backoff spaces the attempts of one link: the first retry comes at once after a
// connection that had lasted (a hand-over inside the grace window), after min when it had
// delivered only briefly (a peer that accepts and drops), and each failed attempt doubles
// the wait up to max.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func newBackoff() backoff { return backoff{min: 250 * time.Millisecond, max: 15 * time.Second} }

// lasted is how long a connection must have delivered for the next retry to come at once.
const lasted = time.Second

// wait sleeps before the next attempt; up is how long the last connection delivered. It
// reports false when ctx ended.
func (b *backoff) wait(ctx context.Context, up time.Duration) bool {
	switch {
	case up >= lasted:
		b.cur = 0
		return ctx.Err() == nil
	case up > 0:
		b.cur = b.min
	default:
		b.cur = min(max(b.cur*2, b.min), b.max)
	}
	t := time.NewTimer(b.cur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
