package fmp4

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// discardWriter is a browser connection that takes everything at once.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header              { return d.h }
func (d *discardWriter) Write(b []byte) (int, error)      { return len(b), nil }
func (d *discardWriter) WriteHeader(int)                  {}
func (d *discardWriter) Flush()                           {}
func (d *discardWriter) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkFMP4FanOut measures what each browser costs per fragment: its relay reader and its
// writes of the shared fragment bytes. Allocations per frame per reader must be 0.
func BenchmarkFMP4FanOut(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			cfg := relay.DefaultConfig()
			cfg.Grace = 0
			g := relay.NewRegistry(cfg)
			defer g.Close()
			pub, err := g.Publish("live/bench")
			if err != nil {
				b.Fatal(err)
			}
			init := &relay.Track{Codec: relay.CodecFMP4, Config: make([]byte, 700)}
			frames := make([]*relay.Frame, 4096)
			for i := range frames {
				frames[i] = &relay.Frame{Track: init, Key: i%30 == 0, Payload: make([]byte, 4000)}
			}
			type viewer struct {
				r    *relay.Reader
				w    *discardWriter
				sent *relay.Track
				sess *session.Session
			}
			viewers := make([]*viewer, n)
			var book session.Table
			for i := range viewers {
				viewers[i] = &viewer{r: pub.Stream().NewReader(), w: &discardWriter{h: http.Header{}},
					sess: book.Open(session.Info{Protocol: "web", Kind: session.Read, Path: "live/bench"})}
			}
			ctx := context.Background()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			start := ms.Mallocs
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f := frames[i%len(frames)]
				f.DTS = time.Duration(i) * time.Second / 30
				i++
				if err := pub.WriteFrame(f); err != nil {
					b.Fatal(err)
				}
				for _, v := range viewers {
					fr, err := v.r.Next(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if err := writeFragment(v.w, fr, &v.sent, v.sess); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.Mallocs-start)/float64(b.N)/float64(n), "allocs/frame/reader")
		})
	}
}

// BenchmarkMuxer measures the work done once per stream for each frame: cutting it into an
// fMP4 fragment that every browser then shares.
func BenchmarkMuxer(b *testing.B) {
	frames, err := mediatest.DemoFrames()
	if err != nil {
		b.Fatal(err)
	}
	cfg := relay.DefaultConfig()
	cfg.Grace = 0
	g := relay.NewRegistry(cfg)
	defer g.Close()
	out, err := g.Publish("live/bench")
	if err != nil {
		b.Fatal(err)
	}
	m := newMuxer(out)
	if err := m.setTracks([]*relay.Track{frames[0].Track}); err != nil {
		b.Fatal(err)
	}
	loop := mediatest.NewLooper(frames)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Frame(b.Context(), loop.Next()); err != nil {
			b.Fatal(err)
		}
	}
}
