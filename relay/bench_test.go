package relay

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchFrames returns a reusable window of frames; next stamps one with an increasing DTS.
type benchSource struct {
	frames []*Frame
	i      int
}

func newBenchSource() *benchSource {
	return &benchSource{frames: clip(2048, 30)}
}

func (b *benchSource) next() *Frame {
	f := b.frames[b.i%len(b.frames)]
	ts := time.Duration(b.i) * time.Second / 60
	f.DTS, f.PTS = ts, ts
	b.i++
	return f
}

// BenchmarkFanOut publishes one frame per op and lets every reader take it, in one goroutine,
// so the figures are the relay's own cost: ns per frame and allocations per frame per reader.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			g := NewRegistry(testConfig())
			defer g.Close()
			p := mustPublish(b, g, "live/bench")
			readers := make([]*Reader, n)
			for i := range readers {
				readers[i] = p.Stream().NewReader()
			}
			src := newBenchSource()
			ctx := context.Background()
			b.ReportAllocs()
			start := mallocs()
			for b.Loop() {
				if err := p.WriteFrame(src.next()); err != nil {
					b.Fatal(err)
				}
				for _, r := range readers {
					if _, err := r.Next(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			reportPerReader(b, n, start)
		})
	}
}

// BenchmarkFanOutParallel has each reader in its own goroutine, as real viewers are.
func BenchmarkFanOutParallel(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			g := NewRegistry(testConfig())
			p := mustPublish(b, g, "live/bench")
			var wg sync.WaitGroup
			ready := make(chan struct{})
			for range n {
				r := p.Stream().NewReader()
				wg.Go(func() {
					defer r.Close()
					<-ready
					for {
						if _, err := r.Next(context.Background()); err != nil {
							return
						}
					}
				})
			}
			src := newBenchSource()
			b.ReportAllocs()
			start := mallocs()
			close(ready)
			for b.Loop() {
				if err := p.WriteFrame(src.next()); err != nil {
					b.Fatal(err)
				}
			}
			g.Close()
			wg.Wait()
			b.StopTimer()
			reportPerReader(b, n, start)
		})
	}
}

// BenchmarkGOPReplay is a reader joining a live stream and reading the GOP cache: what every
// new viewer costs before its first picture.
func BenchmarkGOPReplay(b *testing.B) {
	g := NewRegistry(testConfig())
	defer g.Close()
	p := mustPublish(b, g, "live/bench")
	gop := clip(60, 60) // one 2 s GOP with audio: 120 frames
	writeAll(b, p, gop)
	s := p.Stream()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := s.NewReader()
		for range len(gop) {
			if _, err := r.Next(ctx); err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
	}
}

// BenchmarkReaderCatchUp is a reader that fell MaxLag behind skipping to the latest keyframe.
func BenchmarkReaderCatchUp(b *testing.B) {
	cfg := testConfig()
	cfg.MaxSkips = 1 << 30
	g := NewRegistry(cfg)
	defer g.Close()
	p := mustPublish(b, g, "live/bench")
	r := p.Stream().NewReader()
	src := newBenchSource()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for range 200 { // 3.3 s at 60 frames/s: past MaxLag
			if err := p.WriteFrame(src.next()); err != nil {
				b.Fatal(err)
			}
		}
		for {
			if _, err := r.Next(ctx); err != nil {
				b.Fatal(err)
			}
			if r.pos == p.Stream().head.Load() {
				break
			}
		}
	}
}

// mallocs returns the process's allocation count so far.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// reportPerReader adds the figures the design is judged by: b.N frames were published and
// each of n readers took each of them.
func reportPerReader(b *testing.B, n int, startMallocs uint64) {
	per := float64(b.N) * float64(n)
	b.ReportMetric(float64(mallocs()-startMallocs)/per, "allocs/frame/reader")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/frame/reader")
}
