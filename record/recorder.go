// Package record writes live streams to fragmented MP4 files in the media directory, from
// the moment they are published, and keeps the recordings within an age and a size.
package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

// Store is where recordings go: the media directory (vod.Library is one).
type Store interface {
	// Create makes a new file, and the folders it is in; it fails if the file exists.
	Create(file string) (io.WriteCloser, error)
	Remove(file string) error
	// Files lists the regular files under dir, oldest first.
	Files(dir string) ([]File, error)
	// ReadFile reads a file whole (a path's index); WriteFile replaces one whole, so that a
	// reader never sees half of it.
	ReadFile(file string) ([]byte, error)
	WriteFile(file string, data []byte) error
	// Open opens a recording for reading.
	Open(file string) (io.ReadSeekCloser, error)
}

// File is one file of a Store.
type File struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Config says what to record and how long to keep it.
type Config struct {
	// Enabled says whether a live path is recorded; nil records none.
	Enabled func(path string) bool
	// Dir is the folder of the recordings in the store: Dir/APP/NAME/TIME.mp4.
	Dir string
	// Segment is how long a file runs: a new one starts at the first keyframe after it.
	Segment time.Duration
	// DeleteAfter removes recordings older than this; zero keeps them.
	DeleteAfter time.Duration
	// MaxBytes removes the oldest recordings while all of them take more; zero: no limit.
	MaxBytes int64
	// Window, when it gives a path a length, removes that path's files once they end further
	// back than it (a path recorded for its DVR window alone); nil or 0: as DeleteAfter says.
	Window func(path string) time.Duration
	// FragmentEvery is how much media each write to a file holds: what a kill can lose.
	FragmentEvery time.Duration
	// TrackWait is how long a new stream may take to show its tracks.
	TrackWait time.Duration
	// RetryEvery is how long a recording whose writes failed (a full disk) waits before it
	// tries a new file; 0 is 5 s.
	RetryEvery time.Duration
	// OnSegment is told of each file that is done and plays (webhooks); it must not block.
	OnSegment func(Segment)
}

// Segment is one finished recording file.
type Segment struct {
	Path     string    // the stream's
	File     string    // in the store: Dir/APP/NAME/TIME.mp4
	Started  time.Time // by the wall clock, when its first frame was written
	Duration time.Duration
	Bytes    int64
}

// DefaultConfig records nothing; segments of an hour, fragments of a second, kept for ever.
func DefaultConfig() Config {
	return Config{Dir: "recordings", Segment: time.Hour, FragmentEvery: time.Second, TrackWait: 5 * time.Second}
}

// sweepEvery is how often old recordings are looked for besides at each new segment.
const sweepEvery = time.Minute

// Recorder records every stream Config.Enabled names, from its StreamStarted event to its
// end. A publisher that takes over within the grace window goes on in the same file; a new
// publish starts a new one. Recording of a live stream starts and stops at once when the
// operator says so (Set, SetEnabled).
type Recorder struct {
	cfg   Config
	store Store
	log   *slog.Logger
	index *Index

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   func()
	relays *relay.Registry // set by Watch

	mu       sync.Mutex
	enabled  func(path string) bool
	override map[string]bool              // by path, set by the operator (Set)
	active   map[*relay.Stream]*activeRec // streams being recorded
	writing  map[string]bool              // files being written, which retention leaves alone
	sweepMu  sync.Mutex

	written, files atomic.Uint64
}

// activeRec is one stream being recorded; cancel stops it.
type activeRec struct{ cancel context.CancelFunc }

// New returns a recorder; Watch starts it.
func New(cfg Config, store Store, log *slog.Logger) *Recorder {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{cfg: cfg, store: store, log: log, ctx: ctx, cancel: cancel, enabled: cfg.Enabled,
		override: map[string]bool{}, active: map[*relay.Stream]*activeRec{}, writing: map[string]bool{}, stop: func() {}}
	r.index = newIndex(store, cfg.Dir, log, r.isWriting)
	return r
}

func (r *Recorder) isWriting(file string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writing[file]
}

// Spans returns a path's recording files on the wall clock, oldest first, from the book the
// recorder keeps of them (Index).
func (r *Recorder) Spans(streamPath string) ([]Span, error) { return r.index.Spans(streamPath) }

// Watch records the streams of g from now on, those already live included.
func (r *Recorder) Watch(g *relay.Registry) {
	r.mu.Lock()
	r.relays = g
	r.mu.Unlock()
	r.stop = g.Watch(r.event)
	r.wg.Add(1)
	go r.keepTidy()
}

func (r *Recorder) event(ev relay.Event) {
	if ev.Kind == relay.StreamStarted && r.wanted(ev.Stream.Path()) {
		r.start(ev.Stream)
	}
}

// wanted says whether path should be recorded now.
func (r *Recorder) wanted(path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on, ok := r.override[path]; ok {
		return on
	}
	return r.enabled != nil && r.enabled(path)
}

// start records rs unless it is being recorded.
func (r *Recorder) start(rs *relay.Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil || r.active[rs] != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	a := &activeRec{cancel: cancel}
	r.active[rs] = a
	r.wg.Go(func() {
		defer cancel()
		r.record(ctx, rs)
		r.mu.Lock()
		if r.active[rs] == a {
			delete(r.active, rs)
		}
		r.mu.Unlock()
	})
}

// Set records path (on) or not from now on, whatever the configuration says, until the next
// SetEnabled; a live stream on path starts or stops recording at once.
func (r *Recorder) Set(path string, on bool) {
	r.mu.Lock()
	r.override[path] = on
	r.mu.Unlock()
	r.apply()
}

// SetEnabled replaces Config.Enabled (the configuration was reloaded), forgets what Set said,
// and starts or stops the recording of live streams to match.
func (r *Recorder) SetEnabled(enabled func(path string) bool) {
	r.mu.Lock()
	r.enabled = enabled
	clear(r.override)
	r.mu.Unlock()
	r.apply()
}

// apply starts and stops recordings of the live streams to match what is wanted.
func (r *Recorder) apply() {
	r.mu.Lock()
	relays := r.relays
	r.mu.Unlock()
	if relays == nil {
		return
	}
	for _, rs := range relays.Streams() {
		want := r.wanted(rs.Path())
		r.mu.Lock()
		a := r.active[rs]
		if a != nil && !want {
			delete(r.active, rs)
		}
		r.mu.Unlock()
		switch {
		case want && a == nil:
			r.start(rs)
		case !want && a != nil:
			a.cancel() // the file gets its last frames and is closed
		}
	}
}

// Recording returns the paths being recorded, sorted.
func (r *Recorder) Recording() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	paths := make([]string, 0, len(r.active))
	for rs := range r.active {
		paths = append(paths, rs.Path())
	}
	slices.Sort(paths)
	return paths
}

// Stats are what the recorder has written since it started.
type Stats struct {
	Bytes uint64 // written to recordings
	Files uint64 // recordings started
}

// Stats returns what the recorder has written.
func (r *Recorder) Stats() Stats { return Stats{Bytes: r.written.Load(), Files: r.files.Load()} }

// Close stops recording: every file gets its last frames and is closed.
func (r *Recorder) Close() error {
	r.stop()
	r.cancel()
	r.wg.Wait()
	return nil
}

// record writes one stream until it ends.
func (r *Recorder) record(ctx context.Context, rs *relay.Stream) {
	reader := rs.NewReader() // before the tracks come: it starts at the first keyframe
	defer reader.Close()
	log := r.log.With("path", rs.Path())
	if _, err := rs.WaitTracks(ctx, r.cfg.TrackWait); err != nil {
		if !errors.Is(err, context.Canceled) {
			log.Warn("recording not started", "err", err)
		}
		return
	}
	rec := &recording{r: r, rs: rs, log: log, ctx: ctx}
	err := rec.run(reader)
	if cerr := rec.finish(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, relay.ErrEnded) && !errors.Is(err, context.Canceled) {
		log.Warn("recording stopped", "err", err)
	}
	if d := reader.Dropped(); d > 0 {
		log.Warn("recording lost frames: the disk kept up too slowly", "dropped_frames", d)
	}
}

// recording is one stream's files, one at a time.
type recording struct {
	r    *Recorder
	rs   *relay.Stream
	log  *slog.Logger
	ctx  context.Context // ends when the recording is stopped
	seg  *segment
	last time.Duration // stream time of the newest frame
	// epoch is the wall-clock time of stream time zero, fixed at the first file (wallClock)
	epoch time.Time
	// paused: the store failed a write (a full disk) and no fragment has been written
	// since; frames are skipped until retryAt, then a new file is tried.
	paused  bool
	retryAt time.Time
}

func (rec *recording) run(reader *relay.Reader) error {
	for {
		f, err := reader.Next(rec.ctx)
		if err != nil {
			return err
		}
		rec.last = max(rec.last, f.DTS)
		err = rec.frame(f)
		var we writeError
		if errors.As(err, &we) {
			rec.pause(we)
		} else if err != nil {
			return err
		}
	}
}

// writeError is a failure of the store (a full disk, an I/O error): the recording pauses
// and tries again, and the live stream goes on for its viewers.
type writeError struct{ error }

func (e writeError) Unwrap() error { return e.error }

// pause gives up the current file, keeping what was written whole, and waits before the
// next try. It logs only the first failure of a run of them.
func (rec *recording) pause(err error) {
	if seg := rec.seg; seg != nil {
		rec.seg = nil
		seg.abandon()
		rec.closed(seg, err)
	}
	if !rec.paused {
		rec.log.Warn("recording paused: the disk takes no writes; the live stream goes on, and the recording resumes in a new file when it does", "err", err)
	}
	retry := rec.r.cfg.RetryEvery
	if retry <= 0 {
		retry = 5 * time.Second
	}
	rec.paused, rec.retryAt = true, time.Now().Add(retry)
}

// frame writes one frame, starting a new file at a video keyframe when the current one is
// long enough or does not carry the frame's track (a new codec configuration).
func (rec *recording) frame(f *relay.Frame) error {
	if !format.InFMP4(f.Track.Codec) {
		return nil // what FMP4Init cannot describe yet
	}
	if rec.seg == nil && rec.paused && time.Now().Before(rec.retryAt) {
		return nil
	}
	key := f.Key && f.Track.Codec.IsVideo()
	seg := rec.seg
	if seg == nil || seg.slotOf(f) == nil ||
		key && (f.DTS-seg.start >= rec.r.cfg.Segment || !seg.carries(rec.rs.Tracks())) {
		if !key && rec.hasVideo() {
			return nil // a file starts with a picture
		}
		if err := rec.next(f.DTS); err != nil {
			return err
		}
	}
	sl := rec.seg.slotOf(f)
	if sl == nil || f.DTS < rec.seg.start {
		return nil // audio from before the file's first picture, or of an older configuration
	}
	fragments := rec.seg.fragments
	if err := rec.seg.add(sl, f, rec.r.cfg.FragmentEvery); err != nil {
		return err
	}
	if rec.seg.fragments != fragments {
		rec.r.index.grew(rec.rs.Path(), rec.seg.file, rec.last-rec.seg.start, rec.seg.good)
	}
	if rec.paused && rec.seg.fragments > 0 {
		rec.paused = false
		rec.log.Info("recording resumed: the disk takes writes again", "file", rec.seg.file)
	}
	return nil
}

func (rec *recording) hasVideo() bool {
	return slices.ContainsFunc(rec.rs.Tracks(), func(t *relay.Track) bool { return t.Codec.IsVideo() })
}

// next closes the current file and starts one at stream time start.
func (rec *recording) next(start time.Duration) error {
	if err := rec.finish(); err != nil {
		return err
	}
	w, file, err := rec.r.create(rec.rs.Path())
	if err != nil {
		return err
	}
	seg, err := newSegment(w, file, rec.rs.Tracks(), start)
	if err != nil {
		_ = w.Close()
		rec.r.done(file)
		if errors.As(err, new(writeError)) {
			_ = rec.r.store.Remove(file) // not even the init segment: no playable file
		}
		return err
	}
	rec.seg = seg
	rec.r.index.opened(rec.rs.Path(), Span{File: file, Start: rec.wallClock(start), Open: true, Bytes: seg.good})
	rec.log.Info("recording", "file", file)
	rec.r.sweep()
	return nil
}

// wallClock is the wall-clock time of stream time t. The wall clock's now is the stream's
// live edge; the first file fixes the recording's epoch from it, and the files after it keep
// that epoch, so that one follows the other to the nanosecond, until the encoder's clock has
// drifted from the wall clock by more than reanchorAfter.
func (rec *recording) wallClock(t time.Duration) time.Time {
	epoch := time.Now().Add(-rec.rs.Newest())
	if rec.epoch.IsZero() || epoch.Sub(rec.epoch).Abs() > reanchorAfter {
		rec.epoch = epoch
	}
	return rec.epoch.Add(t)
}

// reanchorAfter is how far the recording's epoch may lag the live edge's before it is moved:
// above the jitter of a busy machine, below what a viewer asking for a time would notice.
const reanchorAfter = time.Second

// finish closes the current file, if any.
func (rec *recording) finish() error {
	seg := rec.seg
	if seg == nil {
		return nil
	}
	rec.seg = nil
	err := seg.close(rec.last)
	rec.closed(seg, err)
	return err
}

// closed books a file as done. One whose writes failed before its first fragment is no
// playable file, and goes.
func (rec *recording) closed(seg *segment, err error) {
	rec.r.done(seg.file)
	if err != nil && seg.fragments == 0 {
		_ = rec.r.store.Remove(seg.file)
		rec.r.index.removed(seg.file)
	} else {
		rec.r.index.closed(rec.rs.Path(), seg.file, rec.last-seg.start, seg.good)
	}
	rec.log.Info("recording closed", "file", seg.file, "duration", rec.last-seg.start, "bytes", seg.good)
	if f := rec.r.cfg.OnSegment; f != nil && seg.fragments > 0 {
		f(Segment{Path: rec.rs.Path(), File: seg.file, Started: seg.created, Duration: rec.last - seg.start, Bytes: seg.good})
	}
}

// create makes the next file of a path, named by the wall clock.
func (r *Recorder) create(streamPath string) (io.WriteCloser, string, error) {
	stamp := time.Now().Format("2006-01-02_15-04-05")
	for i := 0; ; i++ {
		name := stamp
		if i > 0 {
			name = fmt.Sprintf("%s-%d", stamp, i)
		}
		file := path.Join(r.cfg.Dir, streamPath, name+".mp4")
		w, err := r.store.Create(file)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return nil, "", writeError{fmt.Errorf("record %s: %w", streamPath, err)}
		}
		r.mu.Lock()
		r.writing[file] = true
		r.mu.Unlock()
		r.files.Add(1)
		return countingWriter{w, &r.written}, file, nil
	}
}

// Writing returns the files being written, sorted.
func (r *Recorder) Writing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	files := slices.Collect(maps.Keys(r.writing))
	slices.Sort(files)
	return files
}

func (r *Recorder) done(file string) {
	r.mu.Lock()
	delete(r.writing, file)
	r.mu.Unlock()
}

func (r *Recorder) keepTidy() {
	defer r.wg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		r.sweep()
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep removes recordings past DeleteAfter, then the oldest while all take more than
// MaxBytes. Files being written stay.
func (r *Recorder) sweep() {
	if r.cfg.DeleteAfter <= 0 && r.cfg.MaxBytes <= 0 && r.cfg.Window == nil {
		return
	}
	r.sweepMu.Lock()
	defer r.sweepMu.Unlock()
	files, err := r.store.Files(r.cfg.Dir)
	if err != nil {
		r.log.Warn("recordings not tidied", "err", err)
		return
	}
	files = slices.DeleteFunc(files, func(f File) bool { return path.Ext(f.Name) != ".mp4" }) // the books stay
	var total int64
	for _, f := range files {
		total += f.Size
	}
	now := time.Now()
	for _, f := range files { // oldest first
		old := r.cfg.DeleteAfter > 0 && now.Sub(f.ModTime) > r.cfg.DeleteAfter || r.pastWindow(f, now)
		over := r.cfg.MaxBytes > 0 && total > r.cfg.MaxBytes
		if !old && !over {
			continue
		}
		r.mu.Lock()
		busy := r.writing[f.Name]
		r.mu.Unlock()
		if busy {
			continue
		}
		if err := r.store.Remove(f.Name); err != nil {
			r.log.Warn("recording not removed", "file", f.Name, "err", err)
			continue
		}
		total -= f.Size
		r.index.removed(f.Name)
		r.log.Info("recording removed", "file", f.Name, "age", now.Sub(f.ModTime).Round(time.Second), "old", old, "over_max_bytes", over)
	}
}

// pastWindow says whether f, of a path recorded for a DVR window, ends before the window.
func (r *Recorder) pastWindow(f File, now time.Time) bool {
	if r.cfg.Window == nil {
		return false
	}
	p, ok := r.index.pathOf(f.Name)
	w := time.Duration(0)
	if ok {
		w = r.cfg.Window(p)
	}
	return w > 0 && now.Sub(f.ModTime) > w
}

// countingWriter counts what is written through it.
type countingWriter struct {
	io.WriteCloser
	n *atomic.Uint64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.WriteCloser.Write(p)
	w.n.Add(uint64(n))
	return n, err
}

// Truncate cuts the file back, when the store's file can (an *os.File).
func (w countingWriter) Truncate(size int64) error {
	if t, ok := w.WriteCloser.(interface{ Truncate(int64) error }); ok {
		return t.Truncate(size)
	}
	return errors.ErrUnsupported
}
