package webrtc

import (
	"net/netip"
	"sync/atomic"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/udpgso"
)

// batch sends a viewer's packets of one frame to its address together (udpgso): ICE's
// selected pair says where, and it may change (ICE restart, a better pair found).
type batch struct {
	conn  *udpgso.Conn
	route atomic.Pointer[netip.AddrPort] // the selected pair's remote over UDP; nil otherwise
	at    *netip.AddrPort                // where cork holds (the send loop's)
	cork  *udpgso.Cork
}

// follow keeps route on pc's selected pair.
func (b *batch) follow(pc *pwebrtc.PeerConnection) {
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *pwebrtc.ICECandidatePair) {
		if p == nil || p.Remote == nil || p.Remote.Protocol != pwebrtc.ICEProtocolUDP {
			b.route.Store(nil)
			return
		}
		ip, err := netip.ParseAddr(p.Remote.Address)
		if err != nil { // an mDNS name: sent packet by packet
			b.route.Store(nil)
			return
		}
		ap := netip.AddrPortFrom(ip, p.Remote.Port)
		b.route.Store(&ap)
	})
}

// start holds the writes to the viewer's address until finish.
func (b *batch) start() {
	if r := b.route.Load(); r != b.at {
		b.close()
		if b.at = r; r != nil && b.conn != nil {
			b.cork = b.conn.Register(*r)
		}
	}
	if b.cork != nil {
		b.cork.Cork()
	}
}

// finish sends what start held.
func (b *batch) finish() error {
	if b.cork == nil {
		return nil
	}
	return b.cork.Uncork()
}

// close gives the address up, sending what is held.
func (b *batch) close() {
	if b.cork != nil {
		_ = b.cork.Release()
		b.cork = nil
	}
}
