package codec

import "time"

// The largest steps of a source's clock taken as time passing; more either way is a
// discontinuity. Tracks step back between each other by up to a second (MPEG-TS encoders
// send audio ahead in blocks); a still picture may come every few seconds.
const (
	MaxClockStepBack  = 3 * time.Second
	MaxClockStepAhead = 10 * time.Second
)

// Timeline puts the timestamps of one source's tracks (an RTMP connection, an MPEG-TS
// program, an RTSP session) on one 64-bit timeline that runs on for months.
//
// The source's counter is read modulo Wrap: 2^31 ms covers both FLV's signed 31 bits
// (ffmpeg's FLV muxer wraps there after 24.8 days) and RTMP's 32 (49.7 days); 2^33 is
// MPEG-TS's 26.5 hours at 90 kHz. A step beyond MaxClockStepBack or MaxClockStepAhead (an
// encoder that restarted its clock) is a discontinuity: the track that meets it first goes
// on one frame after its latest timestamp, and the others join the new clock by the same
// shift when they meet it, so lip sync survives. Each track's timestamps only go forward.
// Not safe for concurrent use.
type Timeline struct {
	Rate int64 // ticks per second of the source's timestamps
	Wrap int64 // the modulus of the source's counter; 0: it does not wrap
	// OnJump, when set, hears of each discontinuity: how far the source's clock stepped.
	OnJump func(step time.Duration)

	cur, old epoch // the source's clock since the latest discontinuity, and before it
	gen      int   // cur's generation; old's is gen-1
	latest   int64 // the latest timestamp given out, of any track
	tracks   []trackClock
}

// epoch is one stretch of the source's clock without a discontinuity.
type epoch struct {
	raw   int64 // the latest timestamp read on it, modulo Wrap
	ext   int64 // raw, unwrapped
	shift int64 // ext + shift is the timeline
}

type trackClock struct {
	gen  int // the epoch it is on; 0 before its first timestamp
	seen bool
	last int64 // its latest timestamp given out
	step int64 // its latest step forward, the guess at the one a discontinuity hides
}

// Ticks returns where timestamp raw of track (a small index the caller picks) falls on the
// timeline, in the source's ticks.
func (t *Timeline) Ticks(track int, raw int64) int64 {
	for len(t.tracks) <= track {
		t.tracks = append(t.tracks, trackClock{})
	}
	tc := &t.tracks[track]
	if t.gen == 0 {
		t.gen, t.cur, t.latest = 1, epoch{raw: raw, ext: raw}, raw
	}
	var out int64
	switch {
	case tc.gen == t.gen-1 && t.fits(&t.old, raw): // not yet past the discontinuity
		out = t.old.advance(t, raw)
	case t.fits(&t.cur, raw):
		out, tc.gen = t.cur.advance(t, raw), t.gen
	case tc.gen == 0 && t.gen > 1 && t.fits(&t.old, raw):
		out, tc.gen = t.old.advance(t, raw), t.gen-1
	default:
		out = t.jump(tc, raw)
	}
	if tc.seen && out <= tc.last {
		out = tc.last + 1
	} else if tc.seen {
		tc.step = out - tc.last
	}
	tc.seen, tc.last = true, out
	t.latest = max(t.latest, out)
	return out
}

// At is Ticks as a duration.
func (t *Timeline) At(track int, raw int64) time.Duration {
	return Duration(t.Ticks(track, raw), t.Rate)
}

func (t *Timeline) delta(raw, ref int64) int64 {
	d := raw - ref
	if t.Wrap > 0 {
		if d %= t.Wrap; d < 0 {
			d += t.Wrap
		}
		if d >= t.Wrap/2 {
			d -= t.Wrap
		}
	}
	return d
}

func (t *Timeline) fits(e *epoch, raw int64) bool {
	d := t.delta(raw, e.raw)
	return d >= -Ticks(MaxClockStepBack, t.Rate) && d <= Ticks(MaxClockStepAhead, t.Rate)
}

func (e *epoch) advance(t *Timeline, raw int64) int64 {
	e.ext += t.delta(raw, e.raw)
	e.raw = raw
	return e.ext + e.shift
}

// jump starts a new epoch at raw, one of the track's steps after its latest timestamp (the
// latest of any track for a track's first).
func (t *Timeline) jump(tc *trackClock, raw int64) int64 {
	step := tc.step
	if step <= 0 || step > Ticks(time.Second, t.Rate) {
		step = Ticks(time.Second/30, t.Rate)
	}
	t.old, t.gen = t.cur, t.gen+1
	out := t.latest + step
	if tc.seen {
		out = tc.last + step
	}
	t.cur = epoch{raw: raw, ext: raw, shift: out - raw}
	tc.gen = t.gen
	if t.OnJump != nil {
		t.OnJump(Duration(t.delta(raw, t.old.raw), t.Rate))
	}
	return out
}
