package rtmp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// chunkWriter builds a server's chunk stream by hand.
type chunkWriter struct{ bytes.Buffer }

func (w *chunkWriter) basic(fmtType byte, csid int) {
	switch {
	case csid < 64:
		w.WriteByte(fmtType<<6 | byte(csid))
	case csid < 320:
		w.WriteByte(fmtType << 6)
		w.WriteByte(byte(csid - 64))
	default:
		w.WriteByte(fmtType<<6 | 1)
		w.WriteByte(byte(csid - 64))
		w.WriteByte(byte((csid - 64) >> 8))
	}
}

func (w *chunkWriter) u24(v uint32) { w.Write([]byte{byte(v >> 16), byte(v >> 8), byte(v)}) }

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

func TestChunkReaderReassemblesEveryHeaderType(t *testing.T) {
	var w chunkWriter
	video1, video2, audio := payload(300, 1), payload(200, 2), payload(50, 3)
	// Video on csid 6 in 128-byte chunks: a type 0 header, then type 3 continuations.
	w.basic(0, 6)
	w.u24(1000)
	w.u24(300)
	w.WriteByte(msgVideo)
	_ = binary.Write(&w, binary.LittleEndian, uint32(1))
	w.Write(video1[:128])
	w.basic(3, 6)
	w.Write(video1[128:256])
	// Audio on csid 400 (three-byte basic header) between the video's chunks.
	w.basic(0, 400)
	w.u24(1005)
	w.u24(50)
	w.WriteByte(msgAudio)
	_ = binary.Write(&w, binary.LittleEndian, uint32(1))
	w.Write(audio)
	w.basic(3, 6)
	w.Write(video1[256:])
	// SetChunkSize 4096 on csid 2, then a type 1 video header (delta 40, new length).
	w.basic(0, 2)
	w.u24(0)
	w.u24(4)
	w.WriteByte(msgSetChunkSize)
	w.Write([]byte{0, 0, 0, 0})
	_ = binary.Write(&w, binary.BigEndian, uint32(4096))
	w.basic(1, 6)
	w.u24(40)
	w.u24(200)
	w.WriteByte(msgVideo)
	w.Write(video2)
	// Type 3 starting a message: same length and delta again; then type 2 with a new delta.
	w.basic(3, 6)
	w.Write(video2)
	w.basic(2, 6)
	w.u24(33)
	w.Write(video2)
	// An extended timestamp on a type 0 header (csid 70: two-byte basic header).
	w.basic(0, 70)
	w.u24(0xffffff)
	w.u24(50)
	w.WriteByte(msgAudio)
	_ = binary.Write(&w, binary.LittleEndian, uint32(1))
	_ = binary.Write(&w, binary.BigEndian, uint32(0x01000000))
	w.Write(audio)

	r := newChunkReader(bufio.NewReader(&w))
	want := []struct {
		typ  byte
		ts   uint32
		body []byte
	}{
		{msgAudio, 1005, audio},
		{msgVideo, 1000, video1},
		{msgSetChunkSize, 0, nil},
		{msgVideo, 1040, video2},
		{msgVideo, 1080, video2},
		{msgVideo, 1113, video2},
		{msgAudio, 0x01000000, audio},
	}
	for i, wm := range want {
		m, err := r.next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.typ != wm.typ || m.ts != wm.ts || (wm.body != nil && !bytes.Equal(m.body, wm.body)) {
			t.Fatalf("message %d: type %d ts %d %d bytes, want type %d ts %d %d bytes", i, m.typ, m.ts, len(m.body), wm.typ, wm.ts, len(wm.body))
		}
	}
	if r.chunkSize != 4096 {
		t.Errorf("chunk size %d, want 4096", r.chunkSize)
	}
	if _, err := r.next(); err != io.EOF {
		t.Errorf("after the last message: %v, want EOF", err)
	}
}

func TestChunkReaderRefusesNonsense(t *testing.T) {
	for name, in := range map[string][]byte{
		"compressed header first": {0x46, 0, 0, 40},
		"huge message":            {0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0},
		"chunk size zero":         {0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		if _, err := newChunkReader(bufio.NewReader(bytes.NewReader(in))).next(); err == nil || err == io.EOF {
			t.Errorf("%s: %v, want an error", name, err)
		}
	}
}
