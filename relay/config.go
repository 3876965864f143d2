package relay

import (
	"fmt"
	"time"
)

// Config bounds what a stream keeps and how far a reader may fall behind.
type Config struct {
	// RingSize is how many frames a stream keeps at most (a power of two). It must hold a
	// whole GOP plus MaxLag of media; frames older than both are released early anyway.
	RingSize int
	// MaxLag is how far behind the live edge (in media time) a reader may be before it skips
	// ahead to the latest keyframe.
	MaxLag time.Duration
	// MaxSkips is how many times in a row a reader may skip ahead without once catching up
	// with the live edge before it is closed with ErrTooSlow.
	MaxSkips int
	// Grace is how long a stream whose publisher left stays up, keeping its readers, waiting
	// for a publisher to take over. Zero ends the stream at once.
	Grace time.Duration
	// MaxStreams bounds how many paths can be live at once; 0: no bound.
	MaxStreams int
	// ReleaseRead releases each frame as soon as every reader has passed it, instead of
	// keeping the latest GOP for readers yet to come: for streams whose readers all exist
	// before the first frame (a stored file's playback to one viewer), which then hold only
	// what their readers have not read yet.
	ReleaseRead bool
	// TimelineStart is where a new stream's timeline starts: zero, or days in, so that a
	// test reaches the wraps and overflows of a stream published for weeks in seconds.
	TimelineStart time.Duration
}

// DefaultConfig returns the settings a media server wants without tuning.
func DefaultConfig() Config {
	return Config{RingSize: 4096, MaxLag: 2 * time.Second, MaxSkips: 3, Grace: 10 * time.Second}
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.RingSize < 64 || c.RingSize&(c.RingSize-1) != 0:
		return fmt.Errorf("relay: RingSize %d: want a power of two >= 64", c.RingSize)
	case c.MaxLag <= 0:
		return fmt.Errorf("relay: MaxLag %v: want > 0", c.MaxLag)
	case c.MaxSkips < 1:
		return fmt.Errorf("relay: MaxSkips %d: want >= 1", c.MaxSkips)
	case c.Grace < 0:
		return fmt.Errorf("relay: Grace %v: want >= 0", c.Grace)
	case c.TimelineStart < 0:
		return fmt.Errorf("relay: TimelineStart %v: want >= 0", c.TimelineStart)
	case c.MaxStreams < 0:
		return fmt.Errorf("relay: MaxStreams %d: want >= 0", c.MaxStreams)
	}
	return nil
}
