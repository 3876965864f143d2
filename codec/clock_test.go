package codec

import (
	"math/big"
	"testing"
	"time"
)

// The boundaries a stream running for days crosses: RTP's 32 bits at 90 kHz, MPEG-TS's 33
// bits, int64 nanoseconds times 90 000, and RTMP's 31- and 32-bit milliseconds.
var longRun = []struct {
	name string
	at   time.Duration
}{
	{"13.3 h (RTP 2^32 at 90 kHz)", 47721858844 * time.Microsecond},
	{"26.5 h (MPEG-TS 2^33 at 90 kHz)", 95443717689 * time.Microsecond},
	{"28.5 h (2^63 ns / 90 000)", 102481911520 * time.Microsecond},
	{"24.8 d (2^31 ms)", 2147483648 * time.Millisecond},
	{"49.7 d (2^32 ms)", 4294967296 * time.Millisecond},
	{"1 year", 365 * 24 * time.Hour},
}

func exactTicks(d time.Duration, rate int64) int64 {
	v := new(big.Int).Mul(big.NewInt(int64(d)), big.NewInt(rate))
	return v.Quo(v, big.NewInt(int64(time.Second))).Int64()
}

func TestTicksAndDurationAreExactForDays(t *testing.T) {
	for _, tc := range longRun {
		for _, rate := range []int64{1000, 8000, 44100, 48000, 90000, 1000000} {
			for _, d := range []time.Duration{tc.at - time.Second/3, tc.at - 1, tc.at, tc.at + 7*time.Millisecond} {
				got, want := Ticks(d, rate), exactTicks(d, rate)
				if got != want {
					t.Errorf("%s: Ticks(%v, %d) = %d, want %d", tc.name, d, rate, got, want)
				}
				if back := Duration(got, rate); d-back < 0 || d-back >= time.Second/time.Duration(rate)+1 {
					t.Errorf("%s: Duration(Ticks(%v), %d) = %v", tc.name, d, rate, back)
				}
			}
		}
	}
	if got := Ticks(-1500*time.Millisecond, 90000); got != -135000 {
		t.Errorf("Ticks(-1.5 s) = %d", got)
	}
}

// Durations of consecutive frames taken as differences of their converted times add up to
// the converted span, so no drift builds up over days.
func TestTicksOfDifferencesAddUp(t *testing.T) {
	start := 4294967296*time.Millisecond - 10*time.Second
	var sum int64
	prev := start
	for i := 1; i <= 3000; i++ {
		at := start + time.Duration(i)*time.Second/30
		sum += Ticks(at, 90000) - Ticks(prev, 90000)
		prev = at
	}
	if want := Ticks(prev, 90000) - Ticks(start, 90000); sum != want || want != 9000000 {
		t.Errorf("the frames' ticks add up to %d, the span is %d", sum, want)
	}
}
