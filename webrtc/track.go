package webrtc

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/ntp"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
)

// historySize is how many of a track's latest packets a stream keeps for retransmission:
// about 2 s of a 5 Mbit/s picture.
const historySize = 1024

// history is a stream track's latest packets by sequence number, for every viewer's NACKs:
// one history per stream, not one per viewer (pion's NACK responder copies every packet a
// viewer is sent). The packets are the derived frames' own bytes, not copies.
type history struct {
	mu      sync.RWMutex
	packets [historySize][]byte
}

// put keeps pkt, a marshalled RTP packet that is never changed again, under its sequence
// number.
func (h *history) put(seq uint16, pkt []byte) {
	h.mu.Lock()
	h.packets[seq%historySize] = pkt
	h.mu.Unlock()
}

// get returns the packet of sequence number seq, or nil when it is gone.
func (h *history) get(seq uint16) []byte {
	h.mu.RLock()
	pkt := h.packets[seq%historySize]
	h.mu.RUnlock()
	if len(pkt) < 4 || uint16(pkt[2])<<8|uint16(pkt[3]) != seq {
		return nil
	}
	return pkt
}

// sendTrack is a viewer's sending track: it writes the derived stream's packets with the
// viewer's own SSRC and payload type, unchanged otherwise, and resends lost ones from the
// stream's history. pion's writer takes writes from the send goroutine and the RTCP reader
// (resends) at once; each has a header of its own, and no lock is held across a write.
//
// A viewer switched between layers (abr.go) sends several derived streams on one track,
// each with sequence numbers of its own: each layer's packets go out as a span of the
// track's one sequence, and a NACK finds its packet in the history of the span it names.
type sendTrack struct {
	id, mime string
	kind     pwebrtc.RTPCodecType
	askKey   atomic.Pointer[func()] // asks the source of the layer sent for a keyframe; nil for sound
	bound    atomic.Pointer[binding]
	spans    atomic.Pointer[[]span] // newest last; written by the send goroutine alone
	next     *history               // the layer whose first packet starts the next span, if any
	lastSeq  uint16                 // the last sequence number sent
	resent   rtp.Header             // the RTCP reader's
	resentAt *[historySize]int64    // when each packet was last resent (Unix ns), by sequence number; the RTCP reader's
	credit   atomic.Int64           // bytes that may be resent: half of those sent, up to maxCredit
	// sent, for sender reports
	packets, octets atomic.Uint32
}

// span is a run of a track's sequence numbers, from from on, sent from one layer: the
// packet sent as seq is that layer's seq-offset.
type span struct {
	from, offset uint16
	history      *history
}

// maxSpans is how many layers' spans a track keeps for NACKs: a few seconds of switches.
const maxSpans = 4

// binding is where a bound track writes, with the viewer's own payload type and SSRC.
type binding struct {
	w    pwebrtc.TrackLocalWriter
	pt   uint8
	ssrc uint32
}

func newSendTrack(kind pwebrtc.RTPCodecType, mime string, h *history) *sendTrack {
	t := &sendTrack{id: kind.String(), mime: mime, kind: kind}
	t.spans.Store(&[]span{{history: h}})
	return t
}

// switchTo makes h's packets the track's from the next one written on (the send
// goroutine's).
func (t *sendTrack) switchTo(h *history) { t.next = h }

// requestKey asks the source of the layer sent for a keyframe.
func (t *sendTrack) requestKey() {
	if ask := t.askKey.Load(); ask != nil {
		(*ask)()
	}
}

// Bind takes the codec the answer negotiated (pwebrtc.TrackLocal).
func (t *sendTrack) Bind(ctx pwebrtc.TrackLocalContext) (pwebrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, t.mime) {
			t.bound.Store(&binding{w: ctx.WriteStream(), pt: uint8(c.PayloadType), ssrc: uint32(ctx.SSRC())})
			return c, nil
		}
	}
	return pwebrtc.RTPCodecParameters{}, fmt.Errorf("webrtc track: %s not negotiated", t.mime)
}

// Unbind stops the writes (pwebrtc.TrackLocal).
func (t *sendTrack) Unbind(pwebrtc.TrackLocalContext) error {
	t.bound.Store(nil)
	return nil
}

func (t *sendTrack) ID() string                 { return t.id }
func (t *sendTrack) RID() string                { return "" }
func (t *sendTrack) StreamID() string           { return "relaycast" }
func (t *sendTrack) Kind() pwebrtc.RTPCodecType { return t.kind }

// write sends one marshalled RTP packet of the derived stream, its header read into hdr (the
// caller's own), its sequence number moved into the track's; before pion binds the track
// (as the connection starts) and after it unbinds it (as it ends), there is nobody to send
// to. The send goroutine's alone.
func (t *sendTrack) write(hdr *rtp.Header, pkt []byte) error {
	n, err := hdr.Unmarshal(pkt)
	if err != nil {
		return fmt.Errorf("webrtc send: %w", err)
	}
	if t.next != nil {
		t.startSpan(hdr.SequenceNumber)
	}
	spans := *t.spans.Load()
	hdr.SequenceNumber += spans[len(spans)-1].offset
	t.lastSeq = hdr.SequenceNumber
	if c := t.credit.Add(int64(len(pkt)) / 2); c > maxCredit {
		t.credit.Store(maxCredit)
	}
	return t.emit(hdr, pkt[n:])
}

// startSpan starts the span of t.next at its packet seq, after the last one sent.
func (t *sendTrack) startSpan(seq uint16) {
	old := *t.spans.Load()
	from := t.lastSeq + 1
	spans := append(old[max(0, len(old)-maxSpans+1):len(old):len(old)], span{from: from, offset: from - seq, history: t.next})
	t.spans.Store(&spans)
	t.next = nil
}

// emit writes a packet with the viewer's own SSRC and payload type.
func (t *sendTrack) emit(hdr *rtp.Header, payload []byte) error {
	b := t.bound.Load()
	if b == nil {
		return nil
	}
	hdr.SSRC, hdr.PayloadType = b.ssrc, b.pt
	if _, err := b.w.WriteRTP(hdr, payload); err != nil {
		return fmt.Errorf("webrtc send: %w", err)
	}
	t.packets.Add(1)
	t.octets.Add(uint32(len(payload)))
	return nil
}

// senderReport is the track's RTCP sender report at now, with rtpTime the RTP time the
// stream's timeline gives now; nil before the track is bound.
func (t *sendTrack) senderReport(now time.Time, rtpTime uint32) rtcp.Packet {
	b := t.bound.Load()
	if b == nil {
		return nil
	}
	return &rtcp.SenderReport{SSRC: b.ssrc, NTPTime: ntp.Encode(now), RTPTime: rtpTime,
		PacketCount: t.packets.Load(), OctetCount: t.octets.Load()}
}

// feedback answers a viewer's RTCP (from the RTCP reader alone): NACKs from the stream's
// history (packets gone from it stay lost, and the viewer asks for a keyframe), keyframe
// requests passed on to the stream's source.
func (t *sendTrack) feedback(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			t.resend(p)
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			t.requestKey()
		}
	}
}

// A player asks again for a packet still missing as often as every 20 ms, and pion's asks
// for every packet of its window: on a congested link, answering each ask (as Chromium made
// them) sent thirty times the lost packets, and the flood kept the link congested. So a
// packet is resent at most once every resendEvery, and a track resends no more than half
// the bytes it sends.
const (
	resendEvery = 150 * time.Millisecond
	maxCredit   = 256 << 10
)

// resend sends the packets a NACK names that their layer's history still has, within the
// limits above.
func (t *sendTrack) resend(nack *rtcp.TransportLayerNack) {
	spans := *t.spans.Load()
	if t.resentAt == nil {
		t.resentAt = new([historySize]int64)
	}
	now := time.Now().UnixNano()
	for _, pair := range nack.Nacks {
		for _, seq := range pair.PacketList() {
			at := &t.resentAt[seq%historySize]
			sp := spanOf(spans, seq)
			pkt := sp.history.get(seq - sp.offset)
			if pkt == nil || now-*at < int64(resendEvery) {
				continue
			}
			if t.credit.Add(-int64(len(pkt))) < 0 {
				t.credit.Add(int64(len(pkt)))
				return
			}
			*at = now
			n, err := t.resent.Unmarshal(pkt)
			if err != nil {
				continue
			}
			t.resent.SequenceNumber = seq
			_ = t.emit(&t.resent, pkt[n:])
		}
	}
}

// spanOf is the span that sent seq: the newest that starts at or before it (within half the
// sequence's cycle), or the oldest kept.
func spanOf(spans []span, seq uint16) span {
	for i := len(spans) - 1; i > 0; i-- {
		if int16(seq-spans[i].from) >= 0 {
			return spans[i]
		}
	}
	return spans[0]
}
