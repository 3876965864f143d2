package rtmp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp/handshake"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/rtmp"
)

func hostileServer(t *testing.T) *testenv.Server {
	t.Helper()
	return testenv.Start(t, testenv.Options{RTMP: rtmp.Config{HandshakeTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second}})
}

// closedByServer reports whether the server hangs up on c within d.
func closedByServer(c net.Conn, d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if err == nil || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	return err
}

// chunk is one type 0 chunk header on chunk stream 3 declaring a message, then body.
func chunk(typ byte, length int, body []byte) []byte {
	h := []byte{0x03, 0, 0, 0, byte(length >> 16), byte(length >> 8), byte(length), typ, 0, 0, 0, 0}
	return append(h, body...)
}

// deepAMF is an AMF0 connect command whose first argument nests objects depth deep.
func deepAMF(depth int) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x02, 0, 7})
	b.WriteString("connect")
	b.Write([]byte{0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}) // transaction 1
	for range depth {
		b.Write([]byte{0x03, 0, 1, 'a'}) // object { a: ...
	}
	return b.Bytes()
}

func TestHostilePeersAreCutOffAndAViewerKeepsDecoding(t *testing.T) {
	srv := hostileServer(t)
	testenv.PublishDemo(t, srv, "live/calm")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const window = 8 * time.Second
	viewer := make(chan testenv.Decode, 1)
	go func() { viewer <- testenv.FFmpegDecode(ctx, t, srv.URL("live/calm"), window) }()

	garbage := make([]byte, 64<<10)
	_, _ = rand.Read(garbage)
	deep := deepAMF(15000) // 60 KB: under the message limit, refused for its depth
	for _, tc := range []struct {
		name      string
		handshake bool
		send      []byte
	}{
		{"garbage", false, garbage},
		{"truncated handshake", false, append([]byte{3}, make([]byte, 100)...)},
		{"silent after handshake", true, nil},
		{"16 MiB frame declared", true, chunk(9, 0xffffff, make([]byte, 128))},
		{"chunk size 0", true, []byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"chunk size 2^31-1", true, []byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}},
		{"negative chunk size", true, []byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
		{"AMF nested 15000 deep", true, append(chunk(20, len(deep), nil), chunked(deep)...)},
		{"AMF nested past the limit", true, chunk(20, 1<<20, nil)},
		{"zero-length message", true, []byte{0xc3, 1, 2, 3}},
		// go-amf0 alone would allocate 32 GiB for this and take the process down
		{"AMF array of 2^31 elements", true, chunk(20, 18, append(deepAMF(0), 0x0a, 0x7f, 0xff, 0xff, 0xff))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.RTMPAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.handshake {
				if err := handshake.HandshakeWithServer(c, c, &handshake.Config{}); err != nil {
					t.Fatal(err)
				}
			}
			go func() { _, _ = c.Write(tc.send) }()
			if err := closedByServer(c, 10*time.Second); err != nil {
				t.Fatalf("not closed: %v", err)
			}
		})
	}
	d := <-viewer
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(window) {
		t.Fatalf("viewer: %d frames, exit %v, stderr:\n%s", d.Frames, d.Err, d.Stderr)
	}
}

// chunked splits a message body into 128-byte chunks (the default chunk size), with type 3
// headers on chunk stream 3 between them.
func chunked(body []byte) []byte {
	var out []byte
	for i := 0; i < len(body); i += 128 {
		if i > 0 {
			out = append(out, 0xc3)
		}
		out = append(out, body[i:min(i+128, len(body))]...)
	}
	return out
}

func TestTwoThousandSilentConnectionsAreDroppedAndMemoryReturns(t *testing.T) {
	srv := hostileServer(t)
	testenv.PublishDemo(t, srv, "live/busy")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	viewer := make(chan testenv.Decode, 1)
	go func() { viewer <- testenv.FFmpegDecode(ctx, t, srv.URL("live/busy"), 14*time.Second) }()
	// The Go runtime keeps the descriptors of goroutines that ended for reuse: the first wave
	// raises that high-water mark, the second shows whether anything else is left behind.
	silentWave(t, srv)
	before := steadyHeap()
	silentWave(t, srv)
	after := steadyHeap()
	t.Logf("live heap: %d KiB before the second wave of 2000, %d KiB after", before>>10, after>>10)
	// What a connection leaves behind, if anything: a goroutine's stack alone is 2 KiB or
	// more, a connection's buffers 4 KiB. The bound is per connection, not a share of the
	// heap: under two test runs the stream's GOP cache moved the least live heap by 900 KiB
	// between waves (2278 KiB, then 3195), where alone it moves it by a few.
	if after > before && (after-before)/2000 > 750 {
		t.Errorf("heap grew from %d KiB to %d KiB: %d bytes for each connection", before>>10, after>>10, (after-before)/2000)
	}
	d := <-viewer
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(14*time.Second) {
		t.Fatalf("viewer meanwhile: %d frames, exit %v, stderr:\n%s", d.Frames, d.Err, d.Stderr)
	}
}

// silentWave opens 2000 connections that never speak and waits for the server to drop them.
func silentWave(t *testing.T, srv *testenv.Server) {
	t.Helper()
	conns := make([]net.Conn, 0, 2000)
	for range 2000 {
		c, err := net.Dial("tcp", srv.RTMPAddr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	start := time.Now()
	for i, c := range conns {
		if err := closedByServer(c, 10*time.Second); err != nil {
			t.Fatalf("connection %d not dropped: %v", i, err)
		}
		c.Close()
	}
	t.Logf("2000 silent connections dropped %v after the last opened", time.Since(start))
	time.Sleep(300 * time.Millisecond) // let the server's goroutines finish
}

// steadyHeap is the least live heap over 2.5 s: the stream's GOP cache alone moves the live
// heap by half a megabyte between keyframes, and its least is where every sample is alike.
func steadyHeap() uint64 {
	least := liveHeap()
	for range 10 {
		time.Sleep(250 * time.Millisecond)
		least = min(least, liveHeap())
	}
	return least
}

// liveHeap is the memory held by reachable objects (after a collection): what a leak grows.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
