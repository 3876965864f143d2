package hls

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestMuxerPartTargetHoldsStill muxes two minutes of the demo (RTMP's millisecond
// timestamps, 30 fps) at once: gohlslib never reports a change of the part target duration,
// which iOS players fail on.
func TestMuxerPartTargetHoldsStill(t *testing.T) {
	var logs bytes.Buffer
	m, loop := demoMuxer(t, slog.New(slog.NewTextHandler(&logs, nil)))
	for {
		f := loop.Next()
		if f.DTS > 120e9 {
			break
		}
		if err := m.write(f); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(logs.String(), "part duration changed") {
		t.Fatalf("the muxer changed its part target:\n%s", logs.String())
	}
}
