package playback_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/playback"
)

// A range across three files, two of one publish and a third after a 5 s hole, is cut into
// segments that tile its timeline: each follows the one before it to the nanosecond, but at
// the hole, which is marked; each is dated by the wall clock and decodes alone.
func TestPlanHLSTilesARangeAcrossFilesAndAHole(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "recordings", "live", "cam")
	if err := os.MkdirAll(rec, 0o755); err != nil {
		t.Fatal(err)
	}
	ten := filepath.Join(dir, "ten.mp4")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30:duration=10",
		"-f", "lavfi", "-i", "sine=duration=10", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "2", "-c:a", "aac",
		"-movflags", "frag_keyframe+empty_moov+default_base_moof", ten).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	t0 := time.Date(2026, 12, 3, 14, 0, 0, 0, time.Local)
	for _, at := range []time.Duration{0, 10 * time.Second, 25 * time.Second} {
		if err := os.Link(ten, filepath.Join(rec, t0.Add(at).Format("2006-01-02_15-04-05")+".mp4")); err != nil {
			t.Fatal(err)
		}
	}
	lib, book := open(t, dir)
	spans, err := book.Spans("live/cam")
	if err != nil || len(spans) != 3 {
		t.Fatalf("%d spans, %v", len(spans), err)
	}
	from := t0.Add(4500 * time.Millisecond)
	plan, err := playback.PlanHLS(lib, spans, from, 28*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	segs := plan.Segments
	if w := plan.Start(); w.After(from) || from.Sub(w) > time.Second {
		t.Errorf("first picture at %v, want the keyframe shown at or before %v", w, from)
	}
	var total time.Duration
	holes := 0
	for i, s := range segs {
		total += s.Dur()
		if s.Dur() < 500*time.Millisecond || s.Dur() > 3*time.Second {
			t.Errorf("segment %d lasts %v", i, s.Dur())
		}
		if i == 0 {
			continue
		}
		p := segs[i-1]
		switch {
		case s.Discontinuity:
			holes++
			if gap := s.From + s.Shift - (p.To + p.Shift); gap < 4*time.Second || gap > 6*time.Second {
				t.Errorf("segment %d: a hole of %v on the timeline, want 5 s", i, gap)
			}
		case s.From+s.Shift != p.To+p.Shift:
			t.Errorf("segment %d starts at %v, the one before ends at %v", i, s.From+s.Shift, p.To+p.Shift)
		}
		if got, want := s.Wall.Sub(p.Wall), s.From+s.Shift-(p.From+p.Shift); got-want > 100*time.Millisecond || want-got > 100*time.Millisecond {
			t.Errorf("segment %d dated %v after the one before, its time says %v", i, got, want)
		}
		ref, err := playback.ParseRef(spans, s.Ref())
		if err != nil || ref.File != s.File || ref.From != s.From || ref.To != s.To || ref.Shift != s.Shift {
			t.Errorf("segment %d's reference reads back as %+v, %v", i, ref, err)
		}
	}
	// 6 s of the first file from its keyframe at 4 s, 10 of the second, 7.5 of the third
	if holes != 1 || total < 23400*time.Millisecond || total > 23700*time.Millisecond {
		t.Errorf("%d holes, %v in all, want 1 and 23.5 s or so", holes, total)
	}
	ts := filepath.Join(dir, "seg.ts")
	for _, i := range []int{0, len(segs) / 2, len(segs) - 1} {
		b, err := playback.TS(lib, segs[i])
		if err == nil {
			err = os.WriteFile(ts, b, 0o644)
		}
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		out, err := exec.Command("ffmpeg", "-hide_banner", "-v", "warning", "-i", ts, "-f", "null", "-").CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("segment %d decodes with %v: %s", i, err, out)
		}
	}
	// a range that ends just into a file leaves no sliver of it: players take an EXTINF of a
	// few milliseconds for a broken segment
	short, err := playback.PlanHLS(lib, spans, from, t0.Add(25050*time.Millisecond).Sub(from))
	if err != nil {
		t.Fatal(err)
	}
	if last := short.Segments[len(short.Segments)-1]; last.Dur() < 500*time.Millisecond {
		t.Errorf("a range ending 50 ms into a file ends with a segment of %v", last.Dur())
	}
	if _, err := playback.ParseRef(spans, "2026-12-03_13-00-00.mp4~0~1~0"); err == nil {
		t.Error("a reference to a file of no span is taken")
	}
}

// A growing playlist whose first segments go (the recorder deletes files that leave the
// window, or the window's start passes them) numbers the segments left as before, and is no
// longer an EVENT playlist, which may not lose segments.
func TestNumbersKeepASlidingWindowsSegmentNumbers(t *testing.T) {
	seg := func(file string, i int) playback.Segment {
		return playback.Segment{File: "recordings/live/cam/" + file, From: time.Duration(i) * 2 * time.Second, To: time.Duration(i+1) * 2 * time.Second}
	}
	run := func(file string, from, to int) []playback.Segment {
		var out []playback.Segment
		for i := from; i < to; i++ {
			out = append(out, seg(file, i))
		}
		return out
	}
	var n playback.Numbers
	steps := []struct {
		segs []playback.Segment
		want int
	}{
		{run("a.mp4", 0, 10), 0},
		{run("a.mp4", 0, 12), 0},
		{run("a.mp4", 3, 14), 3},
		// the first cut anew from the keyframe at the window's start, the rest as before
		{append([]playback.Segment{{File: "recordings/live/cam/a.mp4", From: 11 * time.Second, To: 12 * time.Second}}, run("a.mp4", 6, 16)...), 5},
		{run("b.mp4", 0, 5), 16}, // nothing of the last answer left: past all of it
	}
	for i, s := range steps {
		if got := n.First("live/cam@t", s.segs); got != s.want {
			t.Errorf("step %d: first segment numbered %d, want %d", i, got, s.want)
		}
	}
	if got := n.First("live/cam@other", run("a.mp4", 7, 9)); got != 0 {
		t.Errorf("another start's playlist numbered from %d, want 0", got)
	}
	h := &playback.HLS{Segments: run("a.mp4", 3, 5)}
	p := h.Playlist(func(n int, _ playback.Segment) string { return fmt.Sprintf("seg%d.ts", n) }, true, 3)
	if !strings.Contains(p, "#EXT-X-MEDIA-SEQUENCE:3\n") || strings.Contains(p, "PLAYLIST-TYPE") || !strings.Contains(p, "\nseg3.ts\n") {
		t.Errorf("a window that lost 3 segments:\n%s", p)
	}
	if p := h.Playlist(func(int, playback.Segment) string { return "s.ts" }, true, 0); !strings.Contains(p, "#EXT-X-PLAYLIST-TYPE:EVENT\n") {
		t.Errorf("a window that lost none:\n%s", p)
	}
}
