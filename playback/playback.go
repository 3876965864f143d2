// Package playback serves a time range of a path's recordings as one MP4: from the keyframe
// at or before the range's start to its end, across the recording files it spans, laid out as
// a faststart MP4 whose media bytes are read from the files where a request's byte range
// falls (no copy is made).
package playback

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/record"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/vod"
)

// ErrNothing is a range no recording covers.
var ErrNothing = errors.New("no recording in that time range")

// Files opens recording files with their sample indexes, and gives their HLS cuts (the
// media library).
type Files interface {
	OpenIndexed(file string) (*os.File, *format.Index, error)
	HLSCuts(file string) (*format.Index, []vod.HLSSegment, error)
}

// Clip is the MP4 of one time range. Close it when done.
type Clip struct {
	// Start is the wall-clock time of the clip's first picture: the keyframe at or before the
	// range's start. Duration is its length; Cut says it ends early, at a change of codec
	// settings, which one MP4 track cannot hold.
	Start    time.Time
	Duration time.Duration
	Cut      bool
	// Zero is the wall-clock time of the clip's time zero, its first picture's decoding.
	Zero time.Time

	ix    format.Index
	files filesAt
	key   string // the files at their sizes and the range: what its layout depends on
}

// Close closes the recording files.
func (c *Clip) Close() error {
	var errs []error
	for _, f := range c.files.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Make lays out the MP4 of the range [from, from+d) of spans (a path's recording files,
// oldest first).
func Make(files Files, spans []record.Span, from time.Time, d time.Duration) (*Clip, error) {
	end := from.Add(d)
	c := &Clip{}
	var out format.Index
	var shift time.Duration // where the current file's time zero is on the clip's timeline
	var prev *record.Span
	var prevLen time.Duration // of the previous file, whole
	var delay time.Duration   // from the first picture's decoding to its showing
	for i := range spans {
		sp := &spans[i]
		if !sp.End().After(from) || !sp.Start.Before(end) {
			continue
		}
		f, ix, err := files.OpenIndexed(sp.File)
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("playback %s: %w", sp.File, err)
		}
		if len(ix.Samples) == 0 {
			f.Close()
			continue
		}
		first := 0
		switch {
		case prev == nil:
			out.Tracks = ix.Tracks
			first = shownBy(ix, from.Sub(sp.Start))
			// the clip's first picture is shown at the keyframe's presentation time (with
			// B-frames, its reorder delay after it is decoded), and the MP4 starts there
			c.Start = sp.Start.Add(ix.Samples[first].PTS)
			c.Zero = sp.Start.Add(ix.Samples[first].DTS)
			shift = -ix.Samples[first].DTS
			delay = ix.Samples[first].PTS - ix.Samples[first].DTS
		case !sameTracks(out.Tracks, ix.Tracks):
			f.Close()
			c.Cut = true
		case sp.Start.Sub(prev.End()) < holeAtLeast:
			shift += prevLen // the files of one publish follow on
		default:
			shift += sp.Start.Sub(prev.Start) // a hole: as long as the wall clock says
		}
		if c.Cut {
			break
		}
		base := c.files.add(f)
		c.key += fmt.Sprintf("%s@%d;", sp.File, c.files.next-base)
		stop, from0 := end.Sub(sp.Start), ix.Samples[first].DTS
		for _, s := range ix.Samples[first:] {
			if s.DTS >= stop || s.DTS < from0 {
				continue // past the end, or sound from before the first picture
			}
			s.Offset += base
			s.DTS += shift
			s.PTS += shift
			out.Samples = append(out.Samples, s)
		}
		out.Duration = min(ix.Duration, stop) + shift
		prev, prevLen = sp, ix.Duration
	}
	if len(out.Samples) == 0 {
		_ = c.Close()
		return nil, ErrNothing
	}
	out.ShowUntil = out.Duration // exactly the range's end, however B-frames reorder its last pictures
	c.ix, c.Duration = out, out.Duration-delay
	c.key += fmt.Sprint(from.UnixNano(), d)
	return c, nil
}

// MP4 lays the clip out as one faststart MP4 and returns a reader of it (for
// http.ServeContent: byte ranges) and its length.
func (c *Clip) MP4() (io.ReadSeeker, int64, error) {
	remux, err := layouts.get(c.key, func() (*format.Remux, error) { return format.NewRemux(&c.ix) })
	if err != nil {
		return nil, 0, err
	}
	return remux.Open(c.files), remux.Size(), nil
}

// layouts keeps the MP4 layouts of the latest clips: a player seeking in one sends a range
// request for each seek, and laying out an hour (a quarter of a million samples) takes most
// of a second.
var layouts = layoutCache{kept: map[string]*format.Remux{}}

type layoutCache struct {
	mu    sync.Mutex
	kept  map[string]*format.Remux
	order []string // oldest first
}

// layoutsKept bounds the layouts kept (each holds its clip's sample tables).
const layoutsKept = 8

func (lc *layoutCache) get(key string, make func() (*format.Remux, error)) (*format.Remux, error) {
	lc.mu.Lock()
	r, ok := lc.kept[key]
	lc.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := make()
	if err != nil {
		return nil, err
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if _, ok := lc.kept[key]; !ok {
		lc.kept[key], lc.order = r, append(lc.order, key)
		if len(lc.order) > layoutsKept {
			delete(lc.kept, lc.order[0])
			lc.order = lc.order[1:]
		}
	}
	return r, nil
}

// Window is the clip as a stored medium plays it (vod.Player.Windows).
func (c *Clip) Window() vod.Window {
	return vod.Window{Index: &c.ix, Bytes: c.files, Closer: c, Zero: c.Zero}
}

// shownBy is the keyframe whose picture is shown at or before t: with B-frames a keyframe
// decoded before t may be shown after it.
func shownBy(ix *format.Index, t time.Duration) int {
	k := ix.KeyframeBefore(t)
	for k > 0 && ix.Samples[k].PTS > t {
		k = ix.KeyframeBefore(ix.Samples[k].DTS - 1)
	}
	return k
}

// holeAtLeast is how far apart two files must be on the wall clock for the clip to keep the
// hole between them; closer ones are one recording cut into files.
const holeAtLeast = time.Second

// sameTracks says whether two files' tracks are the same codecs and settings.
func sameTracks(a, b []*relay.Track) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Codec != b[i].Codec || string(a[i].Config) != string(b[i].Config) {
			return false
		}
	}
	return true
}

// filesAt reads the recording files as one: each file's bytes at its base.
type filesAt struct {
	files []*os.File
	bases []int64
	next  int64
}

func (fa *filesAt) add(f *os.File) int64 {
	base := fa.next
	fa.files, fa.bases = append(fa.files, f), append(fa.bases, base)
	if st, err := f.Stat(); err == nil {
		fa.next += st.Size()
	}
	return base
}

// ReadAt reads within one file: a sample never spans two.
func (fa filesAt) ReadAt(p []byte, off int64) (int, error) {
	k := sort.Search(len(fa.bases), func(k int) bool { return fa.bases[k] > off }) - 1
	if k < 0 {
		return 0, errors.New("playback: read before the first file")
	}
	return fa.files[k].ReadAt(p, off-fa.bases[k])
}
