package webrtc

import (
	"slices"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
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
	tr := newSendTrack(pwebrtc.RTPCodecTypeVideo, pwebrtc.MimeTypeH264, &history{})
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
	tr := newSendTrack(pwebrtc.RTPCodecTypeVideo, pwebrtc.MimeTypeH264, &h)
	tr.bound.Store(&binding{w: w})
	if err := tr.write(&tr.resent, h.get(999)); err != nil || w.n != 1100 {
		t.Fatalf("write: %v, %d bytes", err, w.n)
	}
}

// seqWriter records the sequence numbers written.
type seqWriter struct{ seqs []uint16 }

func (w *seqWriter) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	w.seqs = append(w.seqs, h.SequenceNumber)
	return 0, nil
}
func (w *seqWriter) Write(b []byte) (int, error) { return len(b), nil }

// A track switched between layers sends one unbroken sequence, and a NACK gets each packet
// back from the layer that sent it, within the resend limits: half the bytes sent, each
// packet once in resendEvery.
func TestSwitchedTrackKeepsOneSequenceAndResendsFromEachLayer(t *testing.T) {
	var a, b history
	w := &seqWriter{}
	tr := newSendTrack(pwebrtc.RTPCodecTypeVideo, pwebrtc.MimeTypeH264, &a)
	tr.bound.Store(&binding{w: w})
	var hdr rtp.Header
	send := func(h *history, seq uint16) {
		pkt := marshalled(t, seq)
		h.put(seq, pkt)
		if err := tr.write(&hdr, pkt); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint16(65534); seq != 2; seq++ { // a: 65534 65535 0 1
		send(&a, seq)
	}
	tr.switchTo(&b)
	for seq := uint16(500); seq < 503; seq++ { // b: 500 501 502, sent as 2 3 4
		send(&b, seq)
	}
	if want := []uint16{65534, 65535, 0, 1, 2, 3, 4}; !slices.Equal(w.seqs, want) {
		t.Fatalf("sent %v, want %v", w.seqs, want)
	}
	w.seqs = nil
	a.put(2, marshalled(t, 2)) // a's own 2, never sent: a NACK for 2 means b's 500
	nack := &rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{65535, 1, 2, 4})}
	tr.resend(nack)
	// Half of the 7 packets' bytes sent pays for 3 resent.
	if want := []uint16{65535, 1, 2}; !slices.Equal(w.seqs, want) {
		t.Fatalf("resent %v, want %v", w.seqs, want)
	}
	w.seqs = nil
	tr.credit.Store(maxCredit)
	tr.resend(nack) // asked again at once: only the packet not resent yet
	if want := []uint16{4}; !slices.Equal(w.seqs, want) {
		t.Fatalf("resent %v, want %v", w.seqs, want)
	}
	if got := spanOf(*tr.spans.Load(), 3); got.history != &b || 3-got.offset != 501 {
		t.Errorf("3 is %d of %p, want 501 of b", 3-got.offset, got.history)
	}
}
