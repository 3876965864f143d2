package relay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Stream is one live path: a ring of the most recent frames, shared by any number of readers.
//
// The ring is written by one publisher at a time (under mu) and read without locks: a reader
// holds only a sequence number. A slot holds an atomic pointer so a reader that races with the
// publisher wrapping around sees either the old or the new frame and can tell which by
// re-reading head.
type Stream struct {
	path    string
	cfg     Config
	created time.Time

	ring    []atomic.Pointer[Frame]
	mask    uint64
	head    atomic.Uint64 // sequence number the next frame gets
	keyNext atomic.Uint64 // sequence number + 1 of the latest video keyframe; 0: none yet
	lastDTS atomic.Int64  // DTS of the newest frame
	video   atomic.Bool   // a video track has been seen: readers start on its keyframes
	ended   atomic.Bool
	done    chan struct{}
	keyed   chan struct{} // closed at the first video keyframe

	readers atomic.Pointer[[]*Reader] // copy on write, under mu
	subs    atomic.Pointer[[]chan struct{}]
	tracks  atomic.Pointer[[]*Track] // newest track of each kind, copy on write, under mu
	trackCh chan struct{}            // closed and replaced when tracks change; under mu
	meta    atomic.Pointer[[]byte]
	// a rendition's main stream; a main stream's renditions (copy on write, under the
	// registry's mu), in the order they came
	parent     atomic.Pointer[Stream]
	renditions atomic.Pointer[[]*Stream]

	framesIn, bytesIn atomic.Uint64
	zero              atomic.Int64 // the wall clock (Unix ns) of the timeline's 0, from the first frame
	keyAsked          atomic.Int64 // when a reader last asked for a keyframe (Unix ns)

	mu        sync.Mutex
	tail      uint64     // oldest sequence number still held in the ring
	publisher *Publisher // nil while nobody publishes
	pending   *Publisher // one that joined while a standby plays, until its first keyframe
	since     time.Time  // when the current publisher started, or when the last one left
	maxDTS    time.Duration
	grace     *time.Timer
	gen       uint64 // bumped at every hand-over, so a stale grace timer does nothing
}

func newStream(path string, cfg Config) *Stream {
	s := &Stream{
		path:    path,
		cfg:     cfg,
		created: time.Now(),
		ring:    make([]atomic.Pointer[Frame], cfg.RingSize),
		mask:    uint64(cfg.RingSize - 1),
		done:    make(chan struct{}),
		keyed:   make(chan struct{}),
		trackCh: make(chan struct{}),
	}
	s.readers.Store(&[]*Reader{})
	s.subs.Store(&[]chan struct{}{})
	s.tracks.Store(&[]*Track{})
	return s
}

// Epoch is the wall clock of the stream's timeline at 0, as its first frame came: the
// timeline keeps pace with the wall clock (hand-overs are offset by their outage), so
// Epoch + PTS is when a frame was live. A rendition's is its main stream's, so that all of
// them tell one time. Zero before the first frame.
func (s *Stream) Epoch() time.Time {
	z := s.Main().zero.Load()
	if z == 0 {
		z = s.zero.Load()
	}
	if z == 0 {
		return time.Time{}
	}
	return time.Unix(0, z)
}

// Newest is the DTS of the stream's newest frame: the live edge, which the wall clock's now
// stands for.
func (s *Stream) Newest() time.Duration { return time.Duration(s.lastDTS.Load()) }

// Path is the stream's name, e.g. "live/demo".
func (s *Stream) Path() string { return s.path }

// Tracks returns the newest track of each kind, video first. Senders announce these before
// the first frame so players learn every codec up front.
func (s *Stream) Tracks() []*Track { return *s.tracks.Load() }

// Metadata returns the publisher's stream metadata (for RTMP, the AMF0 onMetaData body), or nil.
func (s *Stream) Metadata() []byte {
	if m := s.meta.Load(); m != nil {
		return *m
	}
	return nil
}

// Done is closed when the stream has ended for good.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Stats is a snapshot of a stream for listings and metrics.
type Stats struct {
	Path       string
	Publishing bool
	Standby    bool      // its publisher is away and a standby (the offline slate) plays
	Protocol   string    // how the current publisher's frames come; "" with none
	Since      time.Time // start of the current publish, or when the publisher left
	Readers    int
	Frames     uint64
	Bytes      uint64
	Tracks     []*Track
}

// Stats returns a snapshot of the stream's counters.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	standby := s.publisher.standing()
	publishing, since, protocol := s.publisher != nil && !standby, s.since, ""
	if publishing {
		protocol = s.publisher.protocolName()
	}
	s.mu.Unlock()
	return Stats{
		Path:       s.path,
		Publishing: publishing,
		Standby:    standby,
		Protocol:   protocol,
		Since:      since,
		Readers:    len(*s.readers.Load()),
		Frames:     s.framesIn.Load(),
		Bytes:      s.bytesIn.Load(),
		Tracks:     s.Tracks(),
	}
}

// NewReader attaches a reader that starts at the latest video keyframe (the GOP cache), or at
// the live edge for a stream without video. Close it when done.
func (s *Stream) NewReader() *Reader {
	r := &Reader{s: s, wake: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.pos = s.head.Load()
	if k := s.keyNext.Load(); k > 0 && k-1 >= s.tail {
		r.pos = k - 1
	} else {
		r.needKey = s.video.Load()
	}
	r.passed.Store(r.pos)
	old := *s.readers.Load()
	readers := make([]*Reader, len(old), len(old)+1)
	copy(readers, old)
	readers = append(readers, r)
	s.readers.Store(&readers)
	return r
}

func (s *Stream) removeReader(r *Reader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.readers.Load()
	readers := make([]*Reader, 0, len(old))
	for _, o := range old {
		if o != r {
			readers = append(readers, o)
		}
	}
	s.readers.Store(&readers)
}

// publish appends f to the ring and wakes waiting readers. The caller holds mu.
func (s *Stream) publish(f *Frame) {
	seq := s.head.Load()
	if seq-s.tail >= uint64(len(s.ring)) {
		s.tail = seq - uint64(len(s.ring)) + 1 // the slot is about to be overwritten
	}
	s.ring[seq&s.mask].Store(f)
	s.lastDTS.Store(int64(f.DTS))
	s.head.Store(seq + 1)
	if f.isVideoKey() {
		if s.keyNext.Load() == 0 {
			close(s.keyed)
		}
		s.keyNext.Store(seq + 1)
	}
	if s.framesIn.Add(1) == 1 {
		s.zero.Store(time.Now().Add(-f.DTS).UnixNano())
	}
	s.bytesIn.Add(uint64(len(f.Payload)))
	s.release()
	for _, r := range *s.readers.Load() {
		r.signal()
	}
	s.notify()
}

// Subscribe makes the stream drop a token into ch, without ever blocking, whenever it gets a
// frame or ends. A goroutine that serves many readers of the stream waits on ch instead of
// each reader waiting on its own; ch should have room for one token. Call the returned
// function to stop.
func (s *Stream) Subscribe(ch chan struct{}) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := append(append([]chan struct{}{}, *s.subs.Load()...), ch)
	s.subs.Store(&subs)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		var subs []chan struct{}
		for _, o := range *s.subs.Load() {
			if o != ch {
				subs = append(subs, o)
			}
		}
		s.subs.Store(&subs)
	}
}

func (s *Stream) notify() {
	for _, ch := range *s.subs.Load() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// release drops frames no reader can use: older than the latest keyframe (so no new reader
// starts there) and further behind the live edge than MaxLag (so a reader there would skip).
// This bounds a stream's memory to about one GOP plus MaxLag, however large the ring.
func (s *Stream) release() {
	if s.cfg.ReleaseRead {
		s.releaseRead()
		return
	}
	limit := s.head.Load() - 1
	if k := s.keyNext.Load(); k > 0 {
		limit = k - 1
	} else if s.video.Load() {
		limit = s.tail // video without a keyframe yet: keep everything
	}
	last := time.Duration(s.lastDTS.Load())
	for s.tail < limit {
		slot := &s.ring[s.tail&s.mask]
		if f := slot.Load(); f != nil && last-f.DTS <= s.cfg.MaxLag {
			return
		}
		slot.Store(nil)
		s.tail++
	}
}

// releaseRead drops the frames every reader has passed. The caller holds mu.
func (s *Stream) releaseRead() {
	limit := s.head.Load()
	for _, r := range *s.readers.Load() {
		limit = min(limit, r.passed.Load())
	}
	for ; s.tail < limit; s.tail++ {
		s.ring[s.tail&s.mask].Store(nil)
	}
}

// end marks the stream as over and wakes every reader so it can drain and leave.
// The caller holds mu.
func (s *Stream) end() {
	if s.ended.Swap(true) {
		return
	}
	if s.grace != nil {
		s.grace.Stop()
	}
	close(s.done)
	for _, r := range *s.readers.Load() {
		r.signal()
	}
	s.notify()
}

// setTrack records t as the newest track of its kind. The caller holds mu.
func (s *Stream) setTrack(t *Track) {
	old := *s.tracks.Load()
	tracks := make([]*Track, 0, 2)
	replaced := false
	for _, o := range old {
		if o.Codec.IsVideo() == t.Codec.IsVideo() {
			o, replaced = t, true
		}
		tracks = append(tracks, o)
	}
	if !replaced {
		tracks = append(tracks, t)
	}
	if len(tracks) == 2 && !tracks[0].Codec.IsVideo() {
		tracks[0], tracks[1] = tracks[1], tracks[0]
	}
	s.tracks.Store(&tracks)
	if t.Codec.IsVideo() {
		s.video.Store(true)
	}
	close(s.trackCh)
	s.trackCh = make(chan struct{})
}

// tracksChanged returns the current tracks and a channel closed when they next change.
func (s *Stream) tracksChanged() ([]*Track, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Tracks(), s.trackCh
}

// WaitTracks waits until the stream shows both a video and an audio track, or has shown one
// of them for settle (a stream may have only one), and returns them. A publisher sends its
// first video and audio frames within moments of each other, and a description of the stream
// (an SDP, an init segment) must list both.
func (s *Stream) WaitTracks(ctx context.Context, settle time.Duration) ([]*Track, error) {
	var settled <-chan time.Time
	for {
		tracks, changed := s.tracksChanged()
		if len(tracks) >= 2 {
			return tracks, nil
		}
		if len(tracks) == 1 && settled == nil {
			t := time.NewTimer(settle)
			defer t.Stop()
			settled = t.C
		}
		select {
		case <-ctx.Done():
			if len(tracks) > 0 {
				return tracks, nil
			}
			return nil, fmt.Errorf("%s has no media yet: %w", s.path, ErrNotFound)
		case <-s.done:
			return nil, fmt.Errorf("%s: %w", s.path, ErrEnded)
		case <-settled:
			return tracks, nil
		case <-changed:
		}
	}
}
