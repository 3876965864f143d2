package hls

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/internal/mediatest"
	"github.com/relaycast/relaycast/relay"
)

// TestMuxerPartTargetHoldsStill muxes two minutes of the demo (RTMP's millisecond
// timestamps, 30 fps) at once: gohlslib never reports a change of the part target duration,
// which iOS players fail on.
func TestMuxerPartTargetHoldsStill(t *testing.T) {
	frames, err := mediatest.DemoFrames()
	if err != nil {
		t.Fatal(err)
	}
	var tracks []*relay.Track
	for _, f := range frames {
		if len(tracks) == 0 || (len(tracks) == 1 && f.Track != tracks[0]) {
			tracks = append(tracks, f.Track)
		}
	}
	var logs bytes.Buffer
	m, err := newMuxer(nil, tracks, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.lib.Close()
	loop := mediatest.NewLooper(frames)
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
