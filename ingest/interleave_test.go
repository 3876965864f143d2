package ingest

import (
	"testing"
	"time"

	"github.com/relaycast/relaycast/relay"
)

type written struct{ got []*relay.Frame }

func (w *written) WriteFrame(f *relay.Frame) error { w.got = append(w.got, f); return nil }
func (w *written) SetMetadata([]byte)              {}

// Audio that arrives late, three frames at once (one MPEG-TS PES), goes out before the video
// it preceded; a track that pauses holds the other back by maxInterleave at most.
func TestInterleaverPassesFramesInDTSOrder(t *testing.T) {
	var out written
	x := &interleaver{out: &out}
	video, audio := x.add(), x.add()
	vt, at := &relay.Track{Codec: relay.CodecH264}, &relay.Track{Codec: relay.CodecAAC}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, step := range []struct {
		w  trackWriter
		t  *relay.Track
		ms int
	}{{video, vt, 0}, {video, vt, 33}, {video, vt, 66}, {audio, at, 0}, {audio, at, 21}, {audio, at, 42}, {video, vt, 100}, {audio, at, 64}, {audio, at, 85}} {
		if err := step.w.WriteFrame(&relay.Frame{Track: step.t, DTS: ms(step.ms)}); err != nil {
			t.Fatal(err)
		}
	}
	var order []time.Duration
	for _, f := range out.got {
		order = append(order, f.DTS)
	}
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			t.Fatalf("out of order: %v", order)
		}
	}
	if len(order) != 8 { // the video frame at 100 ms waits for audio up to it
		t.Fatalf("%d frames out (%v), want 8", len(order), order)
	}
	for n := 1; n <= 40; n++ { // audio pauses: video goes on after maxInterleave
		_ = video.WriteFrame(&relay.Frame{Track: vt, DTS: ms(100 + 33*n)})
	}
	if last := out.got[len(out.got)-1].DTS; last < ms(100+33*40)-maxInterleave-ms(34) {
		t.Fatalf("video held back to %v while audio paused", last)
	}
	if err := x.flush(); err != nil || len(out.got) != 9+40 {
		t.Fatalf("after flush: %d frames, err %v", len(out.got), err)
	}
}
