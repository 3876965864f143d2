package testenv

import (
	"regexp"
	"slices"
	"testing"
)

// ffmpeg folds a message that comes again into "Last message repeated N times": that line is
// as allowed, or as much a warning, as the message it repeats.
func TestDecoderWarningsFollowRepeatedMessages(t *testing.T) {
	allowed := regexp.MustCompile(`^\[hls @ 0x[0-9a-f]+\] reload$`)
	out := "[hls @ 0x1] reload\nLast message repeated 1 times\n[h264 @ 0x2] error while decoding MB 3 4\nLast message repeated 2 times\n"
	got := DecoderWarnings(out, allowed)
	want := []string{"[h264 @ 0x2] error while decoding MB 3 4", "Last message repeated 2 times"}
	if !slices.Equal(got, want) {
		t.Fatalf("warnings %q, want %q", got, want)
	}
}
