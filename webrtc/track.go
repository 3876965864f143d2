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
type sendTrack struct {
	id, mime string
	kind     pwebrtc.RTPCodecType
	history  *history
	askKey   func() // asks the stream's source for a keyframe; nil for sound
	bound    atomic.Pointer[binding]
	resent   rtp.Header // the RTCP reader's
	// sent, for sender reports
	packets, octets atomic.Uint32
}

// binding is where a bound track writes, with the viewer's own payload type and SSRC.
type binding struct {
	w    pwebrtc.TrackLocalWriter
	pt   uint8
	ssrc uint32
}

func newSendTrack(kind pwebrtc.RTPCodecType, mime string, h *history) *sendTrack {
	return &sendTrack{id: kind.String(), mime: mime, kind: kind, history: h}
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
// caller's own); before pion binds the track (as the connection starts) and after it unbinds
// it (as it ends), there is nobody to send to.
func (t *sendTrack) write(hdr *rtp.Header, pkt []byte) error {
	b := t.bound.Load()
	if b == nil {
		return nil
	}
	n, err := hdr.Unmarshal(pkt)
	if err != nil {
		return fmt.Errorf("webrtc send: %w", err)
	}
	hdr.SSRC, hdr.PayloadType = b.ssrc, b.pt
	if _, err := b.w.WriteRTP(hdr, pkt[n:]); err != nil {
		return fmt.Errorf("webrtc send: %w", err)
	}
	t.packets.Add(1)
	t.octets.Add(uint32(len(pkt) - n))
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
			if t.askKey != nil {
				t.askKey()
			}
		}
	}
}

// resend sends the packets a NACK names that the stream's history still has.
func (t *sendTrack) resend(nack *rtcp.TransportLayerNack) {
	for _, pair := range nack.Nacks {
		for _, seq := range pair.PacketList() {
			if pkt := t.history.get(seq); pkt != nil {
				_ = t.write(&t.resent, pkt)
			}
		}
	}
}
