package rtmp

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// BenchmarkShardRound is the RTMP fan-out's hot path: a frame is published and one shard
// writes it to every player over real loopback sockets (drained by goroutines of their own).
// One op is one frame; audio and video alternate, so half the rounds write. It reports the
// time per frame per player and must not allocate.
func BenchmarkShardRound(b *testing.B) {
	for _, players := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("players=%d", players), func(b *testing.B) { benchShardRound(b, players) })
	}
}

func benchShardRound(b *testing.B, players int) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g := relay.NewRegistry(relay.DefaultConfig())
	defer g.Close()
	pub, err := g.Publish("live/bench")
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	srv := New(DefaultConfig(), g, log)
	sh := &shard{srv: srv, stream: pub.Stream(), wake: make(chan struct{}, 1)}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var drains sync.WaitGroup
	var book session.Table
	for range players {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		nc, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		drains.Go(func() { _, _ = io.Copy(io.Discard, client) })
		c := &conn{Conn: nc, tcp: nc.(*net.TCPConn), guard: newGuard(DefaultLimits())}
		v := newViewer(c, pub.Stream().NewReader(), nil, 1, DefaultConfig().ChunkSize, log)
		v.open(&book)
		sh.viewers = append(sh.viewers, v)
	}
	defer func() {
		for _, v := range sh.viewers {
			_ = v.c.Conn.Close()
			v.reader.Close()
		}
		drains.Wait()
	}()

	video := &relay.Track{Codec: relay.CodecH264, ClockRate: 90000, Config: []byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 1, 0x67, 1, 0, 1, 0x68}}
	audio := &relay.Track{Codec: relay.CodecAAC, ClockRate: 44100, Config: []byte{0x12, 0x10}}
	vp, ap := make([]byte, 4000), make([]byte, 300)
	var pool []relay.Frame // made ahead, so the loop measures the fan-out's allocations only
	n := 0
	frame := func() {
		if n%len(pool) == 0 && n > 0 {
			b.StopTimer()
			pool = makeFrames(n, len(pool), video, audio, vp, ap)
			b.StartTimer()
		}
		if err := pub.WriteFrame(&pool[n%len(pool)]); err != nil {
			b.Fatal(err)
		}
		n++
		sh.round(time.Now(), false)
	}
	pool = makeFrames(0, 1<<16, video, audio, vp, ap)
	for range 120 { // past the first keyframe and the config messages
		frame()
	}
	b.ReportAllocs()
	for b.Loop() {
		frame()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(players), "ns/frame/player")
	// A player whose socket was full at the last frame is still catching up, not behind:
	// let the drains empty the sockets.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && anyBusy(sh.viewers); {
		time.Sleep(10 * time.Millisecond)
		sh.round(time.Now(), false)
	}
	for _, v := range sh.viewers {
		if v.dead.Load() || v.busy.Load() {
			b.Fatalf("a player fell behind: %v", v.failed())
		}
	}
}

func anyBusy(vs []*viewer) bool {
	for _, v := range vs {
		if v.busy.Load() {
			return true
		}
	}
	return false
}

// makeFrames makes count frames from number first on: video and audio alternating, 20 ms
// apart, a keyframe every 60.
func makeFrames(first, count int, video, audio *relay.Track, vp, ap []byte) []relay.Frame {
	out := make([]relay.Frame, count)
	for i := range out {
		k := first + i
		at := time.Duration(k) * 20 * time.Millisecond
		out[i] = relay.Frame{Track: audio, DTS: at, PTS: at, Key: true, Payload: ap}
		if k%2 == 0 {
			out[i] = relay.Frame{Track: video, DTS: at, PTS: at, Key: k%60 == 0, Payload: vp}
		}
	}
	return out
}
