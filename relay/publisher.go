package relay

import (
	"time"
)

// minHandoverGap keeps each track's timestamps increasing across a publisher hand-over even
// when the new publisher's first audio and video frames are not exactly aligned.
const minHandoverGap = 40 * time.Millisecond

// Publisher writes frames into a stream. There is at most one per stream at a time.
type Publisher struct {
	s       *Stream
	g       *Registry
	started bool
	offset  time.Duration // added to the source's timestamps to put them on the stream's timeline
	// shared by a publisher and its renditions, so one source instant is one stream instant
	// in each of them
	clock *groupClock
	// this publisher's renditions, which leave with it (under the registry's mu)
	renditions []*Publisher
	closed     bool
	// the source's tracks mapped to the stream's, so an unchanged config keeps its Track and
	// readers do not re-send it after a hand-over
	canon map[*Track]*Track
	// under s.mu: how the frames come (for metrics and listings) and how many came
	protocol      string
	frames, bytes uint64
	askKey        func()
	// a standby's: stops it when a publisher takes over
	stop func()
	// a publisher that joined while a standby played, waiting for where it may start
	sawFrame, sawVideo bool
	firstSeen          time.Duration
}

// keyRequestGap is the least time between two keyframe requests a stream passes on: a
// keyframe is many packets, and every viewer that lost one asks.
const keyRequestGap = time.Second

// OnKeyframeRequest sets how the source is asked for a keyframe (a WHIP publisher's PLI);
// ask must not block. Without it, requests go nowhere.
func (p *Publisher) OnKeyframeRequest(ask func()) {
	p.s.mu.Lock()
	p.askKey = ask
	waiting := p.s.pending == p
	p.s.mu.Unlock()
	if waiting {
		ask() // it takes over from a standby at its first keyframe: the sooner the better
	}
}

// RequestKeyframe asks the stream's publisher for a keyframe, for a viewer whose picture
// broke beyond what resending mends; requests closer than keyRequestGap are one.
func (s *Stream) RequestKeyframe() {
	now, last := time.Now().UnixNano(), s.keyAsked.Load()
	if now-last < int64(keyRequestGap) || !s.keyAsked.CompareAndSwap(last, now) {
		return
	}
	s.mu.Lock()
	var ask func()
	switch {
	case s.pending != nil:
		ask = s.pending.askKey
	case s.publisher != nil:
		ask = s.publisher.askKey
	}
	s.mu.Unlock()
	if ask != nil {
		ask()
	}
}

// SetProtocol names how this publisher's frames come in ("rtmp", "playlist"…), for the
// stream's Stats and the registry's Ingest.
func (p *Publisher) SetProtocol(name string) {
	p.s.mu.Lock()
	p.protocol = name
	p.s.mu.Unlock()
}

func (p *Publisher) protocolName() string {
	if p.protocol == "" {
		return "other"
	}
	return p.protocol
}

// Stream is the stream this publisher writes to.
func (p *Publisher) Stream() *Stream { return p.s }

// WriteFrame publishes f, which the publisher gives up: its timestamps are moved onto the
// stream's timeline and from then on it is shared read-only. It never waits for readers.
func (p *Publisher) WriteFrame(f *Frame) error {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.closed || s.ended.Load() {
		return ErrEnded
	}
	if s.pending == p && !p.takeOver(f) {
		return nil // the standby plays on until a frame a viewer can start at
	}
	if !p.started {
		p.started = true
		p.offset = p.clock.fix(s.firstDTS() - f.DTS)
		s.since = time.Now()
	}
	f.DTS += p.offset
	f.PTS += p.offset
	f.Track = p.canonical(f.Track)
	if f.DTS > s.maxDTS {
		s.maxDTS = f.DTS
	}
	p.frames++
	p.bytes += uint64(len(f.Payload))
	s.publish(f)
	return nil
}

// SetMetadata replaces the stream's metadata (for RTMP, the AMF0 onMetaData body). The stream
// keeps b; the caller must not change it afterwards.
func (p *Publisher) SetMetadata(b []byte) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if !p.closed {
		p.s.meta.Store(&b)
	}
}

func (p *Publisher) canonical(t *Track) *Track {
	if c, ok := p.canon[t]; ok {
		return c
	}
	c := t
	for _, old := range p.s.Tracks() {
		if old.Codec == t.Codec && string(old.Config) == string(t.Config) {
			c = old
		}
	}
	if p.canon == nil {
		p.canon = make(map[*Track]*Track, 2)
	}
	p.canon[t] = c
	p.s.setTrack(c)
	return c
}

// Close ends this publisher's turn. The stream stays up for the grace window, keeping its
// readers, and ends if nobody takes over. Close is idempotent.
func (p *Publisher) Close() {
	p.g.unpublish(p)
}

// firstDTS is where a new publisher's first frame lands on the stream's timeline: the
// configured start for a new stream, otherwise after the last frame by the time the stream was without a publisher,
// so timestamps keep pace with the wall clock. The caller holds mu.
func (s *Stream) firstDTS() time.Duration {
	if s.framesIn.Load() == 0 {
		return s.cfg.TimelineStart
	}
	gap := time.Since(s.since)
	gap = max(gap, minHandoverGap)
	return s.maxDTS + gap
}
