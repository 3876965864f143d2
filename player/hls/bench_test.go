package hls

import (
	"log/slog"
	"testing"

	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/relay"
)

// BenchmarkMuxer measures the work done once per stream for each frame: gohlslib cutting it
// into LL-HLS parts and segments that every client then fetches. A client costs nothing per
// frame, only per request.
func BenchmarkMuxer(b *testing.B) {
	m, loop := demoMuxer(b, slog.New(slog.DiscardHandler))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.write(loop.Next()); err != nil {
			b.Fatal(err)
		}
	}
}

// demoMuxer is the muxer of the demo's tracks, closed when the test ends, and the demo's
// frames looped.
// demoTracks are the demo's two tracks, in the order they first come.
func demoTracks(frames []*relay.Frame) []*relay.Track {
	var tracks []*relay.Track
	for _, f := range frames {
		if len(tracks) == 0 || (len(tracks) == 1 && f.Track != tracks[0]) {
			tracks = append(tracks, f.Track)
		}
	}
	return tracks
}

func demoMuxer(t testing.TB, log *slog.Logger) (*muxer, *mediatest.Looper) {
	t.Helper()
	frames, err := mediatest.DemoFrames()
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMuxer(nil, demoTracks(frames), false, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.lib.Close)
	return m, mediatest.NewLooper(frames)
}
