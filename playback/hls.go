package playback

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/record"
	"github.com/relaycast/relaycast/vod"
)

// HLS is a time range of a path's recordings as HLS segments, each within one recording file
// and cut where that file's own HLS cuts are (made once per file and shared by all its
// viewers). A playlist so costs a look at each file's cuts, and a segment names its file and
// its span there, so serving it reads that file alone. Joining the range's samples, as the
// MP4 does, would cost each request of each viewer the sample tables of the whole range.
type HLS struct {
	Segments []Segment
}

// Segment is one HLS segment: the samples of File whose decoding times are in [From, To),
// moved by Shift onto the range's timeline.
type Segment struct {
	File     string
	From, To time.Duration
	Shift    time.Duration
	// Wall is when its first picture is shown; Discontinuity, that the range's time jumps at
	// its start (a hole between recordings) or its codec settings change.
	Wall          time.Time
	Discontinuity bool
}

// Dur is the segment's length.
func (s Segment) Dur() time.Duration { return s.To - s.From }

// sliver is the shortest segment kept alone at either end of a range: players take an
// EXTINF of a few milliseconds for a broken segment.
const sliver = 500 * time.Millisecond

// PlanHLS cuts the range [from, from+d) of spans (a path's recording files, oldest first)
// into segments, from the keyframe shown at or before from.
func PlanHLS(files Files, spans []record.Span, from time.Time, d time.Duration) (*HLS, error) {
	end := from.Add(d)
	h := &HLS{}
	var shift time.Duration // from the current file's time to the range's
	var prev *record.Span
	var prevIx *format.Index
	for i := range spans {
		sp := &spans[i]
		if !sp.End().After(from) || !sp.Start.Before(end) {
			continue
		}
		ix, cuts, err := files.HLSCuts(sp.File)
		if err != nil {
			return nil, fmt.Errorf("playback %s: %w", sp.File, err)
		}
		if len(ix.Samples) == 0 {
			continue
		}
		first, jump := 0, false
		switch {
		case prev == nil:
			first = shownBy(ix, from.Sub(sp.Start))
			shift = -ix.Samples[first].DTS
		case sp.Start.Sub(prev.End()) < holeAtLeast && sameTracks(prevIx.Tracks, ix.Tracks):
			shift += prevIx.Duration // the files of one publish follow on
		default:
			// a hole, as long as the wall clock says, or new codec settings, which HLS
			// carries across a discontinuity
			shift += max(sp.Start.Sub(prev.Start), prevIx.Duration)
			jump = true
		}
		segs := fileSegments(ix, cuts, first, end.Sub(sp.Start))
		for k := range segs {
			segs[k].File, segs[k].Shift = sp.File, shift
			segs[k].Wall = sp.Start.Add(shownAt(ix, segs[k].From))
		}
		if len(segs) > 0 {
			segs[0].Discontinuity = jump
		}
		h.Segments = append(h.Segments, segs...)
		prev, prevIx = sp, ix
	}
	if n := len(h.Segments); n > 1 && h.Segments[n-1].Dur() < sliver && !prev.Open {
		// the range's end just past the start of a file: what is of it there goes
		h.Segments = h.Segments[:n-1]
	}
	if len(h.Segments) == 0 {
		return nil, ErrNothing
	}
	return h, nil
}

// fileSegments are a file's cuts from sample first up to file time stop.
func fileSegments(ix *format.Index, cuts []vod.HLSSegment, first int, stop time.Duration) []Segment {
	var out []Segment
	for _, c := range cuts {
		if c.End <= first {
			continue
		}
		// from the cut's first sample's time, which a file's first cut counts from zero
		a, b := ix.Samples[max(c.First, first)].DTS, min(c.Start+c.Dur, stop)
		if a >= stop {
			break
		}
		if b > a {
			out = append(out, Segment{From: a, To: b})
		}
	}
	if n := len(out); n > 1 && out[0].Dur() < sliver {
		out[1].From, out = out[0].From, out[1:]
	}
	if n := len(out); n > 1 && out[n-1].Dur() < sliver {
		out[n-2].To, out = out[n-1].To, out[:n-1]
	}
	return out
}

// shownAt is when the first video keyframe decoded at or after t is shown, in file time.
func shownAt(ix *format.Index, t time.Duration) time.Duration {
	for i := sort.Search(len(ix.Samples), func(i int) bool { return ix.Samples[i].DTS >= t }); i < len(ix.Samples); i++ {
		if s := ix.Samples[i]; s.Key && ix.Tracks[s.Track].Codec.IsVideo() {
			return s.PTS
		}
	}
	return t
}

// Start is when the range's first picture is shown.
func (h *HLS) Start() time.Time { return h.Segments[0].Wall }

// Playlist is the range's HLS playlist: each segment with its wall-clock time
// (EXT-X-PROGRAM-DATE-TIME) and a discontinuity where the range's time jumps; uri names
// segment n (its media sequence number: a segment keeps its name across reloads). A growing one (a DVR window while the stream is live) is an EVENT playlist,
// which players reload for the segments to come, and its target duration is fixed at
// eventTarget. first is the first segment's media sequence number: above zero, segments
// have left the start (the recorder deleted files that left the window), which an EVENT
// playlist may not do, so the playlist is a plain live one.
func (h *HLS) Playlist(uri func(i int, s Segment) string, growing bool, first int) string {
	var longest time.Duration
	for _, s := range h.Segments {
		longest = max(longest, s.Dur())
	}
	target, kind := int(math.Ceil(longest.Seconds())), "VOD"
	if growing {
		target, kind = max(target, eventTarget), "EVENT"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n", target)
	if first == 0 {
		fmt.Fprintf(&b, "#EXT-X-PLAYLIST-TYPE:%s\n", kind)
	}
	if growing {
		// from the start asked for, not near the live end, where players begin a playlist
		// without an end
		b.WriteString("#EXT-X-START:TIME-OFFSET=0,PRECISE=YES\n")
	}
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-INDEPENDENT-SEGMENTS\n", first)
	for i, s := range h.Segments {
		if s.Discontinuity {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%.5f,\n%s\n",
			s.Wall.UTC().Format("2006-01-02T15:04:05.000Z"), s.Dur().Seconds(), uri(first+i, s))
	}
	if !growing {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

// eventTarget is a growing playlist's target duration, which must not change between its
// reloads: above any segment of a stream with keyframes at most 8 s apart.
const eventTarget = 10

// Ref names a segment in its URL: its file's name and its span there, in nanoseconds.
func (s Segment) Ref() string {
	return fmt.Sprintf("%s~%d~%d~%d", path.Base(s.File), s.From, s.To, s.Shift)
}

// ErrNoSegment is a segment reference that names no recording file of the path, or no span.
var ErrNoSegment = errors.New("no such segment")

// ParseRef reads a segment's reference (Ref) back, against the path's recording files.
func ParseRef(spans []record.Span, ref string) (Segment, error) {
	parts := strings.Split(ref, "~")
	if len(parts) != 4 {
		return Segment{}, fmt.Errorf("%w: %q", ErrNoSegment, ref)
	}
	var n [3]int64
	for i, p := range parts[1:] {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return Segment{}, fmt.Errorf("%w: %q", ErrNoSegment, ref)
		}
		n[i] = v
	}
	s := Segment{From: time.Duration(n[0]), To: time.Duration(n[1]), Shift: time.Duration(n[2])}
	if s.To <= s.From {
		return Segment{}, fmt.Errorf("%w: %q", ErrNoSegment, ref)
	}
	for _, sp := range spans {
		if path.Base(sp.File) == parts[0] {
			s.File = sp.File
			return s, nil
		}
	}
	return Segment{}, fmt.Errorf("%w: %s is no recording of this path (retention may have deleted it)", ErrNoSegment, parts[0])
}

// TS reads a segment as MPEG-TS.
func TS(files Files, s Segment) ([]byte, error) {
	f, ix, err := files.OpenIndexed(s.File)
	if err != nil {
		return nil, fmt.Errorf("playback %s: %w", s.File, err)
	}
	defer f.Close()
	at := func(t time.Duration) int {
		return sort.Search(len(ix.Samples), func(i int) bool { return ix.Samples[i].DTS >= t })
	}
	seg := vod.HLSSegment{First: at(s.From), End: at(s.To)}
	if seg.First >= seg.End {
		return nil, fmt.Errorf("%w: %s holds nothing from %v to %v", ErrNoSegment, s.File, s.From, s.To)
	}
	return vod.TSSegment(ix, f, seg, s.Shift)
}

// Numbers keeps the media sequence numbers of growing playlists (a path's window from one
// absolute start), so that when the recorder deletes files that leave the window, the
// segments left keep their numbers: players match a reload's segments to the last one's by
// number. It remembers the first segments of each playlist's last answer.
type Numbers struct {
	mu    sync.Mutex
	kept  map[string]numbered
	order []string // oldest first
}

type numbered struct {
	first int
	refs  []string
}

// numbersKept bounds the playlists remembered, refsKept the segments of each: retention
// deletes a file (a minute: 30 segments) at a time, and players reload every few seconds.
const (
	numbersKept = 1024
	refsKept    = 64
)

// First numbers the first of segs, the segments of playlist key now.
func (n *Numbers) First(key string, segs []Segment) int {
	refs := make([]string, 0, min(len(segs), refsKept))
	for _, s := range segs[:cap(refs)] {
		refs = append(refs, s.Ref())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.kept == nil {
		n.kept = map[string]numbered{}
	}
	first := 0
	if prev, ok := n.kept[key]; ok {
		// where one of the new first segments was (the very first may be cut anew, from the
		// keyframe at the window's start); past all those remembered if none
		first = prev.first + len(prev.refs)
		for j := range min(len(refs), 3) {
			if k := slices.Index(prev.refs, refs[j]); k >= 0 {
				first = prev.first + max(0, k-j)
				break
			}
		}
	} else {
		n.order = append(n.order, key)
		if len(n.order) > numbersKept {
			delete(n.kept, n.order[0])
			n.order = n.order[1:]
		}
	}
	n.kept[key] = numbered{first: first, refs: refs}
	return first
}
