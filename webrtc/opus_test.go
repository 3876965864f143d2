package webrtc

import (
	"io"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/relay"
)

// A gap in the AAC (a looped file's sound ends early, a frame is lost) does not restart the
// transcoder: the Opus after it plays that much later, the sound before and after it each in
// step with the picture.
func TestAACGapShiftsTheOpusAfterIt(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed: run `make test`, which installs the test peers")
	}
	demo, err := mediatest.DemoFrames()
	if err != nil {
		t.Fatal(err)
	}
	var aac []*relay.Frame
	for _, f := range demo {
		if f.Track.Codec == relay.CodecAAC {
			aac = append(aac, f)
		}
	}
	const gap = 300 * time.Millisecond
	cut := len(aac) / 2
	tr, err := newTranscoder(aac[0].Track.Config, aac[0].PTS, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	for i, f := range aac {
		pts := f.PTS
		if i >= cut {
			pts += gap
		}
		if ok, err := tr.write(pts, f.Payload); !ok || err != nil {
			t.Fatalf("frame %d at %v: the transcoder took it: %v, %v", i, pts, ok, err)
		}
	}
	tr.stdin.Close() // ffmpeg flushes and ends
	gapAt := aac[cut].PTS
	var out []time.Duration
	for of := range tr.out {
		out = append(out, of.pts)
	}
	out = out[:len(out)-1] // the last, flushed at the end, is shorter
	var prev time.Duration
	jumps := 0
	for _, pts := range out {
		of := opusFrame{pts: pts}
		if prev != 0 {
			switch step := of.pts - prev; {
			case step == 20*time.Millisecond:
			case step > gap && step < gap+40*time.Millisecond && of.pts > gapAt && of.pts < gapAt+gap+100*time.Millisecond:
				jumps++
			default:
				t.Fatalf("Opus at %v after %v: a step of %v", of.pts, prev, step)
			}
		}
		prev = of.pts
	}
	if jumps != 1 || prev < aac[len(aac)-1].PTS+gap-100*time.Millisecond {
		t.Errorf("%d jumps of the %v gap; the last Opus at %v, the last AAC at %v", jumps, gap, prev, aac[len(aac)-1].PTS+gap)
	}
}
