package format

import (
	"bytes"
	"io"
	"testing"
)

// FuzzProbe feeds the MP4 and FLV prober and indexer what a hand-copied or uploaded file could
// hold: it must return, with a playable file or an error, and never panic; what it indexes
// must read, and remux into an MP4 whose every byte reads. Seeds in testdata/fuzz/FuzzProbe:
// a tiny H.264+AAC MP4, faststart and not, one whose stts claimed billions of samples (go-mp4
// appended them all until the guard, checkTables), a tiny FLV, and tiny H.265+AAC and
// AV1+Opus MP4s.
func FuzzProbe(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x08moov"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Probe(bytes.NewReader(b), int64(len(b)))
		if err == nil && (len(info.Tracks) == 0 || info.Duration <= 0) {
			t.Fatalf("accepted a file with %d tracks and duration %v", len(info.Tracks), info.Duration)
		}
		r := bytes.NewReader(b)
		ix, err := ReadIndex(r, int64(len(b)))
		if err != nil {
			return
		}
		// from the last fragments alone: the same of a real file (TestReadDurationIsTheIndexsDuration),
		// never more of one whose fragments go back in time
		if d, err := ReadDuration(bytes.NewReader(b), int64(len(b))); err != nil || d > ix.Duration {
			t.Fatalf("duration alone %v (%v), by the whole index %v", d, err, ix.Duration)
		}
		for i := range ix.Samples {
			if _, err := ix.Frame(r, i); err != nil {
				t.Fatalf("indexed sample %d cannot be read: %v", i, err)
			}
		}
		m, err := NewRemux(ix)
		if err != nil {
			return
		}
		n, err := io.Copy(io.Discard, m.Open(r))
		if err != nil || n != m.size {
			t.Fatalf("remuxed file: %d of %d bytes read: %v", n, m.size, err)
		}
	})
}
