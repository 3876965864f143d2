package rtmp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/yutopp/go-amf0"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// clientBytes is what an encoder sends: handshake, then the given messages, chunked by
// go-rtmp's own writer with chunk size 128 until a SetChunkSize among them changes it.
func clientBytes(t testing.TB, msgs ...*gortmp.ChunkMessage) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteByte(3)
	out.Write(make([]byte, 1536*2)) // C1, C2
	var w lockedBuffer
	cs := gortmp.NewChunkStreamer(bytes.NewReader(nil), &w, nil)
	defer cs.Close()
	for i, m := range msgs {
		sc, setting := m.Message.(*message.SetChunkSize)
		csid := 6
		if setting {
			csid = 2
		}
		if err := cs.Write(context.Background(), csid, 0, m); err != nil {
			t.Fatal(err)
		}
		waitWritten(t, &w, i+1)
		if setting {
			_ = cs.SelfState().SetChunkSize(sc.ChunkSize)
		}
	}
	out.Write(w.bytes())
	return out.Bytes()
}

// lockedBuffer collects what go-rtmp's writer goroutine writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// waitWritten waits for go-rtmp's writer goroutine to have written n whole messages, as
// go-rtmp's reader reads them back: it writes each message's chunks from a goroutine of its
// own, and a pause in its writing (a loaded machine) is no sign that it has finished.
func waitWritten(t testing.TB, w *lockedBuffer, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); messagesIn(w.bytes()) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("go-rtmp wrote %d of %d messages in 10 s", messagesIn(w.bytes()), n)
		}
	}
}

// messagesIn counts the whole messages of a chunk stream.
func messagesIn(b []byte) int {
	cs := gortmp.NewChunkStreamer(bytes.NewReader(b), io.Discard, nil)
	defer cs.Close()
	for n := 0; ; n++ {
		var m gortmp.ChunkMessage
		if _, _, err := cs.Read(&m); err != nil {
			return n
		}
		if sc, ok := m.Message.(*message.SetChunkSize); ok {
			_ = cs.PeerState().SetChunkSize(sc.ChunkSize)
		}
	}
}

func video(n int) *gortmp.ChunkMessage {
	return &gortmp.ChunkMessage{StreamID: 1, Message: &message.VideoMessage{Payload: bytes.NewReader(make([]byte, n))}}
}

// command is a command message whose arguments are one AMF0 string, n bytes in all.
func command(n int) *gortmp.ChunkMessage {
	body := append([]byte{0x02, byte((n - 3) >> 8), byte(n - 3)}, bytes.Repeat([]byte{'a'}, n-3)...)
	return &gortmp.ChunkMessage{Message: &message.CommandMessage{
		CommandName: "x", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(body),
	}}
}

func setChunk(n uint32) *gortmp.ChunkMessage {
	return &gortmp.ChunkMessage{Message: &message.SetChunkSize{ChunkSize: n}}
}

func TestGuardFollowsARealStream(t *testing.T) {
	in := clientBytes(t, command(300), video(5000), setChunk(4096), video(100000), video(10), command(100))
	for _, step := range []int{1, 7, 1000, len(in)} { // however the bytes arrive
		g := newGuard(DefaultLimits())
		for b := in; len(b) > 0; {
			n := min(step, len(b))
			if err := g.feed(b[:n]); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			b = b[n:]
		}
		if g.chunkSize != 4096 || g.payload != 0 || g.hdrLen != 0 {
			t.Fatalf("step %d: guard lost track: chunk size %d, payload %d, header %d", step, g.chunkSize, g.payload, g.hdrLen)
		}
	}
}

func TestGuardRefuses(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxMediaMessage = 1 << 20
	hs := append([]byte{3}, make([]byte, 3072)...)
	for name, in := range map[string][]byte{
		"oversized frame":   clientBytes(t, video(1<<20+1)),
		"oversized command": clientBytes(t, command(65000), command(65000), video(1), command(70000)),
		"huge AMF array":    concat(hs, []byte{0x03, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0, 0x0a, 0x7f, 0xff, 0xff, 0xff}),
		"deep AMF":          concat(hs, []byte{0x03, 0, 0, 0, 0, 0, 120, 20, 0, 0, 0, 0}, bytes.Repeat([]byte{0x0a, 0, 0, 0, 1}, 24)),
		"chunk size 0":      concat(hs, []byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0}),
		"chunk size 2^31-1": clientBytes(t, setChunk(0x7fffffff)),
		// fmt 3 on a chunk stream never used: go-rtmp would take a zero-length message
		"zero length":    concat(hs, []byte{0xc3, 1, 2, 3}),
		"aggregate":      concat(hs, []byte{0x03, 0, 0, 0, 0, 0, 10, 22, 0, 0, 0, 0}),
		"max declared":   concat(hs, []byte{0x03, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0}),
		"many chunk ids": manyStreams(hs, 100),
		"huge csid":      concat(hs, []byte{0x01, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0}),
		// 128 bytes of a 200-byte frame, then a type 1 header on its chunk stream that
		// shrinks the message below what has arrived
		"length below read": concat(hs, []byte{0x04, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0},
			make([]byte, 128), []byte{0x44, 0, 0, 0, 0, 0, 10, 9}),
	} {
		t.Run(name, func(t *testing.T) {
			err := newGuard(lim).feed(in)
			if !errors.Is(err, errGuard) {
				t.Fatalf("err = %v, want a refusal", err)
			}
		})
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func manyStreams(hs []byte, n int) []byte {
	b := concat(hs)
	for i := range n {
		b = append(b, byte(2+i%60)|0, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0)
		if i >= 60 {
			b = append(b[:len(b)-13], 0, byte(i), 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0)
		}
	}
	return b
}

func FuzzGuard(f *testing.F) {
	f.Add(guardSeed)
	f.Add(append([]byte{3}, make([]byte, 3072)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		g := newGuard(DefaultLimits())
		_ = g.feed(in)
		if g.hdrLen > len(g.hdr) || g.payload < 0 {
			t.Fatalf("guard state out of bounds: header %d, payload %d", g.hdrLen, g.payload)
		}
	})
}

// guardSeed is a handshake and a frame, built by hand so the fuzz workers start at once.
var guardSeed = concat(append([]byte{3}, make([]byte, 3072)...),
	[]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0}, // SetChunkSize 4096
	[]byte{0x06, 0, 0, 0, 0, 0x01, 0x2c, 9, 1, 0, 0, 0}, make([]byte, 300))

// The codecs an enhanced RTMP client announces in connect are found in its command.
func TestFourCCListOfConnect(t *testing.T) {
	var b bytes.Buffer
	enc := amf0.NewEncoder(&b)
	for _, v := range []any{"connect", 1.0, map[string]any{"app": "live", "fourCcList": []any{"hvc1", "av01", 7.0}}} {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkAMF0(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if got := fourCCList(b.Bytes()); !slices.Equal(got, []string{"hvc1", "av01"}) {
		t.Errorf("fourCcList %v", got)
	}
	if got := fourCCList([]byte{0x02, 0, 7}); got != nil {
		t.Errorf("a cut command gave %v", got)
	}
}
