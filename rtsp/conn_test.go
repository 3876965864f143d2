package rtsp

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// recordConn keeps each write as it came.
type recordConn struct {
	net.Conn
	writes    [][]byte
	deadlines int
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (r *recordConn) SetWriteDeadline(time.Time) error { r.deadlines++; return nil }

// interleaved is an RTP packet with sequence number seq on channel 0, as gortsplib writes it.
func interleaved(seq byte, marker bool, size int) []byte {
	p := make([]byte, 4+12+size)
	p[0], p[1], p[2], p[3] = '$', 0, byte((12+size)>>8), byte(12+size)
	p[4], p[7] = 0x80, seq
	if marker {
		p[5] = 0x80 | 96
	} else {
		p[5] = 96
	}
	return p
}

func TestWritesOfOneFrameAreMergedAndOrderIsKept(t *testing.T) {
	rec := &recordConn{}
	c := &peerConn{Conn: rec}
	response := []byte("RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n")
	rtcp := []byte{'$', 1, 0, 8, 0x80, 200, 0, 1, 0, 0, 0, 0}
	var sent [][]byte
	send := func(p []byte) {
		sent = append(sent, p)
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	// A keyframe in five packets, an audio packet, a frame cut short by a response, RTCP, and
	// a packet too big to hold.
	for i := range 5 {
		send(interleaved(byte(i), i == 4, 1400))
	}
	send(interleaved(5, true, 300))
	send(interleaved(6, false, 1400))
	send(response)
	send(interleaved(7, false, 1400))
	send(rtcp)
	send(interleaved(8, true, maxMerged))
	// A keyframe bigger than a batch: 13 packets of 1416 bytes, in batches of what fits.
	for i := range 13 {
		send(interleaved(byte(9+i), i == 12, 1400))
	}

	want := [][]byte{
		bytes.Join(sent[0:5], nil), // the keyframe at once
		sent[5],                    // audio
		sent[6], sent[7],           // the held packet goes out before the response
		sent[8], sent[9], // and before RTCP
		sent[10],
	}
	fit := maxMerged / 1416
	for i := 11; i < 24; i += fit {
		want = append(want, bytes.Join(sent[i:min(i+fit, 24)], nil))
	}
	if len(rec.writes) != len(want) {
		t.Fatalf("%d writes, want %d", len(rec.writes), len(want))
	}
	for i := range want {
		if !bytes.Equal(rec.writes[i], want[i]) {
			t.Errorf("write %d: %d bytes, want %d", i, len(rec.writes[i]), len(want[i]))
		}
	}
}

func TestWriteDeadlineMovesAtMostOnceASecond(t *testing.T) {
	rec := &recordConn{}
	c := &peerConn{Conn: rec}
	now := time.Now()
	for i := range 1000 {
		_ = c.SetWriteDeadline(now.Add(10*time.Second + time.Duration(i)*time.Millisecond))
	}
	if rec.deadlines != 1 {
		t.Errorf("1000 pushes of a deadline within a second: %d passed on, want 1", rec.deadlines)
	}
	_ = c.SetWriteDeadline(now.Add(12 * time.Second))
	_ = c.SetWriteDeadline(now.Add(time.Second)) // earlier: at once
	_ = c.SetWriteDeadline(time.Time{})          // none: at once
	if rec.deadlines != 4 {
		t.Errorf("%d deadlines passed on, want 4", rec.deadlines)
	}
}
