package codec

import (
	"testing"
	"time"
)

// stamp is one frame of a synthetic source: its track and its true time on the encoder.
type stamp struct {
	track int
	at    time.Duration
}

// interleaved gives video at 30 fps and AAC at 44.1 kHz for d from start, audio sent lead
// ahead of video as MPEG-TS muxers do.
func interleaved(start, d, lead time.Duration) []stamp {
	var out []stamp
	v, a := start, start
	for v < start+d {
		if a <= v+lead {
			out = append(out, stamp{1, a})
			a += 1024 * time.Second / 44100
		} else {
			out = append(out, stamp{0, v})
			v += time.Second / 30
		}
	}
	return out
}

// The source's counter wraps where its format says; the timeline runs on through the wrap
// with each frame's true spacing, and no discontinuity is reported.
func TestTimelineRunsOnThroughEveryCounterWrap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rate, wrap int64
		field      int64 // what the wire carries: the counter modulo this
		start      time.Duration
		lead       time.Duration
	}{
		{"ffmpeg FLV, 31 bits of ms (24.8 d)", 1000, 1 << 31, 1 << 31, 2147483647*time.Millisecond - 4*time.Second, 0},
		{"RTMP, 32 bits of ms (49.7 d)", 1000, 1 << 31, 1 << 32, 4294967295*time.Millisecond - 4*time.Second, 0},
		{"MPEG-TS, 33 bits of 90 kHz (26.5 h)", 90000, 1 << 33, 1 << 33, Duration(1<<33, 90000) - 4*time.Second, 700 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := Timeline{Rate: tc.rate, Wrap: tc.wrap, OnJump: func(step time.Duration) { t.Errorf("a jump of %v reported", step) }}
			var first [2]int64
			var seen [2]bool
			for _, s := range interleaved(tc.start, 8*time.Second, tc.lead) {
				raw := Ticks(s.at, tc.rate)
				got := tl.Ticks(s.track, raw%tc.field)
				if !seen[s.track] {
					seen[s.track], first[s.track] = true, got-raw
				}
				if got-raw != first[s.track] {
					t.Fatalf("track %d at %v: %d ticks off its true time, %d at its start", s.track, s.at, got-raw, first[s.track])
				}
			}
			if first[0] != first[1] {
				t.Errorf("the tracks are %d ticks apart", first[1]-first[0])
			}
		})
	}
}

// An encoder that restarts its clock within one connection: back to zero after an hour,
// then ahead by five hours. Video meets each jump first and audio a few frames later (it was sent
// ahead); each track only goes forward, with a gap at each jump of a frame (and of the audio
// the old clock had sent ahead: lip sync is kept), and once both
// are past it they are as far apart as the source had them.
func TestTimelineJoinsAJumpingClockAsContinuity(t *testing.T) {
	var jumps []time.Duration
	tl := Timeline{Rate: 90000, Wrap: 1 << 33, OnJump: func(step time.Duration) { jumps = append(jumps, step) }}
	var frames []stamp
	frames = append(frames, interleaved(time.Hour, 5*time.Second, 300*time.Millisecond)...)
	frames = append(frames, interleaved(0, 5*time.Second, 300*time.Millisecond)...)
	frames = append(frames, interleaved(5*time.Hour, 5*time.Second, 300*time.Millisecond)...)
	var last [2]time.Duration
	var seen [2]bool
	var off [2]time.Duration // out - true time of each track's latest frame
	for i, s := range frames {
		got := tl.At(s.track, Ticks(s.at, 90000))
		if seen[s.track] && got <= last[s.track] {
			t.Fatalf("frame %d (track %d, %v): %v after %v", i, s.track, s.at, got, last[s.track])
		}
		if seen[s.track] && got-last[s.track] > 300*time.Millisecond+50*time.Millisecond {
			t.Errorf("frame %d (track %d, %v): a gap of %v", i, s.track, s.at, got-last[s.track])
		}
		last[s.track], off[s.track], seen[s.track] = got, got-s.at, true
	}
	if len(jumps) != 2 || jumps[0] > -59*time.Minute || jumps[1] < 4*time.Hour {
		t.Errorf("jumps reported: %v", jumps)
	}
	if d := off[1] - off[0]; d < -time.Millisecond/10 || d > time.Millisecond/10 {
		t.Errorf("audio is %v off video after the jumps", d)
	}
}

// Tracks that step back between each other by up to a second are not a discontinuity, nor
// is a still picture every 5 s.
func TestTimelineTakesInterleavingAndSlowFramesAsTime(t *testing.T) {
	tl := Timeline{Rate: 1000, Wrap: 1 << 31, OnJump: func(step time.Duration) { t.Errorf("a jump of %v", step) }}
	for _, s := range []stamp{{0, 0}, {1, time.Second}, {0, 40 * time.Millisecond}, {1, 1020 * time.Millisecond},
		{0, 5 * time.Second}, {0, 10 * time.Second}, {1, 10 * time.Second}} {
		if got := tl.At(s.track, Ticks(s.at, 1000)); got != s.at {
			t.Errorf("track %d at %v: got %v", s.track, s.at, got)
		}
	}
}
