package web

import (
	"testing"
	"time"
)

func TestPlaybackStartAndDurationParameters(t *testing.T) {
	now := time.Date(2026, 12, 3, 14, 10, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-12-03T14:02:00Z", want: time.Date(2026, 12, 3, 14, 2, 0, 0, time.UTC)},
		{in: "2026-12-03T15:02:00.5+01:00", want: time.Date(2026, 12, 3, 14, 2, 0, 5e8, time.UTC)},
		{in: "-600", want: now.Add(-10 * time.Minute)},
		{in: "600", bad: true},
		{in: "yesterday", bad: true},
		{in: "", bad: true},
	} {
		got, err := parseStart(tc.in, now)
		if (err != nil) != tc.bad || !tc.bad && !got.Equal(tc.want) {
			t.Errorf("start=%q: %v, %v; want %v (bad %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "300", want: 5 * time.Minute}, {in: "5m", want: 5 * time.Minute}, {in: "0.5", want: 500 * time.Millisecond},
		{in: "0", bad: true}, {in: "-5", bad: true}, {in: "25h", bad: true}, {in: "", bad: true}, {in: "long", bad: true},
	} {
		got, err := parseLength(tc.in)
		if (err != nil) != tc.bad || got != tc.want && !tc.bad {
			t.Errorf("duration=%q: %v, %v; want %v (bad %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
