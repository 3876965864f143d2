package hls

import (
	"log/slog"
	"testing"

	"github.com/relaycast/relaycast/internal/mediatest"
	"github.com/relaycast/relaycast/relay"
)

// BenchmarkMuxer measures the work done once per stream for each frame: gohlslib cutting it
// into LL-HLS parts and segments that every client then fetches. A client costs nothing per
// frame, only per request.
func BenchmarkMuxer(b *testing.B) {
	frames, err := mediatest.DemoFrames()
	if err != nil {
		b.Fatal(err)
	}
	var tracks []*relay.Track
	for _, f := range frames {
		if len(tracks) == 0 || (len(tracks) == 1 && f.Track != tracks[0]) {
			tracks = append(tracks, f.Track)
		}
	}
	m, err := newMuxer(nil, tracks, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer m.lib.Close()
	loop := mediatest.NewLooper(frames)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.write(loop.Next()); err != nil {
			b.Fatal(err)
		}
	}
}
