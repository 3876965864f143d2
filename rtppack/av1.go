// Package rtppack packs relay frames in RTP where gortsplib's packetizers fall short, for
// every output that sends RTP (RTSP, WebRTC).
package rtppack

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/codec"
)

// AV1 packs temporal units in RTP (the AV1 RTP payload format, 4.4): each OBU an
// element with its LEB128 length (W = 0), split over packets where it does not fit, Z and Y
// marking the continued elements. gortsplib v5.6.4's encoder sets Y on a packet whose last
// OBU ended in it when the next one has no room to start there, and the depacketizer then
// glues the two OBUs together: a broken picture for every player.
type AV1 struct {
	PayloadType uint8
	MaxPayload  int    // bytes of RTP payload a packet carries at most
	Seq         uint16 // the next packet's sequence number
}

// Encode packs one temporal unit as the relay carries it: its OBUs, with size fields.
func (p *AV1) Encode(tu []byte) ([]*rtp.Packet, error) {
	obus, err := codec.AV1Units(tu)
	if err != nil {
		return nil, err
	}
	var pkts []*rtp.Packet
	cur := []byte{0}
	push := func(continues bool) {
		if continues {
			cur[0] |= 1 << 6 // Y
		}
		pkts = append(pkts, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: p.PayloadType, SequenceNumber: p.Seq}, Payload: cur})
		p.Seq++
		cur = []byte{0}
		if continues {
			cur[0] |= 1 << 7 // Z
		}
	}
	for _, obu := range obus {
		if av1.OBUType(obu[0]>>3&0x0f) == av1.OBUTypeTemporalDelimiter {
			continue // the payload format leaves them out
		}
		for rest := obu; len(rest) > 0; {
			n := fit(len(rest), p.MaxPayload-len(cur))
			if n == 0 { // no room here, not even to start: the element begins in the next packet
				push(false)
				continue
			}
			size := av1.LEB128(uint32(n))
			at := len(cur)
			cur = append(cur, make([]byte, size.MarshalSize())...)
			size.MarshalTo(cur[at:])
			cur = append(cur, rest[:n]...)
			if rest = rest[n:]; len(rest) > 0 {
				push(true)
			}
		}
	}
	if len(cur) > 1 || len(pkts) == 0 {
		push(false)
	}
	if av1.IsRandomAccess2(obus) {
		pkts[0].Payload[0] |= 1 << 3 // N: a new coded video sequence starts
	}
	pkts[len(pkts)-1].Marker = true
	return pkts, nil
}

// fit is how many of n bytes go in an element that has avail bytes, its length included.
func fit(n, avail int) int {
	n = min(n, avail-1)
	for n > 0 && n+av1.LEB128(uint32(n)).MarshalSize() > avail {
		n--
	}
	return max(n, 0)
}
