package relay

import (
	"context"
	"time"
)

// CatchUp paces a datagram output's reader that starts behind the live edge (the GOP from
// the latest keyframe). Sent at once, a 2 s GOP is a burst of hundreds of datagrams that
// overflows the player's socket (208 KiB on Linux) or a router's queue, and over SRT the
// retransmissions of that burst come while the player still guesses the round trip: a
// broken picture at every join on a lossy link. CatchUp sends the backlog at Speed times
// real time instead; once caught up, frames pass at once.
type CatchUp struct {
	Speed int // how much faster than real time the backlog goes; 0 is 4

	on    bool
	start time.Time
	first time.Duration
}

// maxCatchUpWait bounds one wait, so that a timestamp leap (a new epoch of the timeline)
// costs at most this much: the pace then starts over from that frame.
const maxCatchUpWait = 100 * time.Millisecond

// Delay is how long to wait, at now, before sending the frame with the given DTS.
func (c *CatchUp) Delay(now time.Time, dts time.Duration) time.Duration {
	speed := time.Duration(c.Speed)
	if speed <= 0 {
		speed = 4
	}
	if !c.on || dts < c.first {
		c.on, c.start, c.first = true, now, dts
	}
	d := c.start.Add((dts - c.first) / speed).Sub(now)
	if d > maxCatchUpWait {
		c.start, c.first = now, dts
		return 0
	}
	return max(d, 0)
}

// Wait waits for the turn of the frame with the given DTS; it returns ctx's error if ctx
// ends first.
func (c *CatchUp) Wait(ctx context.Context, dts time.Duration) error {
	d := c.Delay(time.Now(), dts)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
