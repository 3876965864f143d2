package vod

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/relaycast/relaycast/format"
)

// Segments cover every sample once, in order; each starts at a video keyframe and all but
// the last last 2 s or more, so a player that seeks into one decodes from its start.
func TestSegmentsStartAtKeyframes(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "testdata", "sample-720p.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	ix, err := format.ReadIndex(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	segs := CutHLS(ix)
	if len(segs) != 3 {
		t.Fatalf("%d segments of a 6 s file with 1 s GOPs, want 3: %+v", len(segs), segs)
	}
	next, total := 0, time.Duration(0)
	for i, s := range segs {
		first := ix.Samples[s.First]
		if s.First != next || !first.Key || !ix.Tracks[first.Track].Codec.IsVideo() {
			t.Errorf("segment %d starts at sample %d (%+v), want %d, a video keyframe", i, s.First, first, next)
		}
		if i < len(segs)-1 && s.Dur < hlsTarget {
			t.Errorf("segment %d lasts %v", i, s.Dur)
		}
		next, total = s.End, total+s.Dur
	}
	if next != len(ix.Samples) || total != ix.Duration {
		t.Errorf("segments end at sample %d of %d, last %v of %v", next, len(ix.Samples), total, ix.Duration)
	}
	b, err := TSSegment(ix, f, segs[1], 0)
	if err != nil || len(b) == 0 || len(b)%188 != 0 || b[0] != 0x47 {
		t.Fatalf("segment: %d bytes, %v", len(b), err)
	}
}
