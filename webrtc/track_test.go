package webrtc

import (
	"testing"

	"github.com/pion/rtp"
)

// countingWriter stands for pion's SRTP writer.
type countingWriter struct{ n int }

func (w *countingWriter) WriteRTP(_ *rtp.Header, payload []byte) (int, error) {
	w.n += len(payload)
	return len(payload), nil
}
func (w *countingWriter) Write(b []byte) (int, error) { return len(b), nil }

func marshalled(t testing.TB, seq uint16) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptVideo, SequenceNumber: seq, Timestamp: 9000, SSRC: 1},
		Payload: make([]byte, 1100)}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A viewer's send of a derived packet (its SSRC and payload type, up to pion's SRTP) costs no
// allocation.
func BenchmarkViewerSendPerPacket(b *testing.B) {
	tr := &sendTrack{}
	tr.bound.Store(&binding{w: &countingWriter{}, pt: 102, ssrc: 42})
	pkt := marshalled(b, 7)
	var hdr rtp.Header
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.write(&hdr, pkt); err != nil {
			b.Fatal(err)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = tr.write(&hdr, pkt) }); allocs != 0 {
		b.Fatalf("%v allocations per packet per viewer", allocs)
	}
}

// The history gives back a packet by its sequence number until a newer one takes its place.
func TestHistoryGivesBackPacketsBySequenceNumber(t *testing.T) {
	var h history
	for seq := uint16(65000); seq != 1000; seq++ { // across the wrap
		h.put(seq, marshalled(t, seq))
	}
	end := uint16(1000)
	if h.get(end-1) == nil || h.get(end-historySize) == nil {
		t.Error("a kept packet is gone")
	}
	if h.get(end-historySize-1) != nil || h.get(end) != nil {
		t.Error("a packet that is gone (or never was) came back")
	}
	w := &countingWriter{}
	tr := &sendTrack{history: &h}
	tr.bound.Store(&binding{w: w})
	if err := tr.write(&tr.resent, h.get(999)); err != nil || w.n != 1100 {
		t.Fatalf("write: %v, %d bytes", err, w.n)
	}
}
