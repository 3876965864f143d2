package webrtc_test

import (
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// turnServer is a TURN server on loopback that counts the packets it relays.
func turnServer(t *testing.T, user, pass string) (addr string, relayed *atomic.Int64) {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relayed = &atomic.Int64{}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: "relaycast.test",
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, turn.GenerateAuthKey(user, "relaycast.test", pass), ra.Username == user
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: &countingConn{udp, relayed},
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return udp.LocalAddr().String(), relayed
}

// countingConn counts the packets a TURN server's listener sends its clients.
type countingConn struct {
	net.PacketConn
	n *atomic.Int64
}

func (c *countingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.n.Add(1)
	return c.PacketConn.WriteTo(b, addr)
}

var iceServerLink = regexp.MustCompile(`^<([^>]+)>; rel="ice-server"(?:; username="([^"]*)"; credential="([^"]*)"; credential-type="password")?$`)

// iceServers reads the Link headers of a WHEP or WHIP answer as a client does.
func iceServers(t *testing.T, h http.Header) []pwebrtc.ICEServer {
	t.Helper()
	var out []pwebrtc.ICEServer
	for _, l := range h.Values("Link") {
		m := iceServerLink.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("Link %q is no ice-server", l)
		}
		out = append(out, pwebrtc.ICEServer{URLs: []string{m[1]}, Username: m[2], Credential: m[3]})
	}
	return out
}

// A player whose network lets it out only through TURN (relay candidates alone) plays
// through the TURN server the Link headers of OPTIONS name, with its credentials; the
// answer names the same servers.
func TestWHEPPlaysThroughTheTURNServerItsLinkHeadersName(t *testing.T) {
	turnAddr, relayed := turnServer(t, "alice", "s3cret")
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.WebRTCICEServers = conf.List{"stun:127.0.0.1:3478", "turn:alice:s3cret@" + turnAddr + "?transport=udp"}
	}})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/turn"))
	testenv.WaitLive(t, srv, "live/turn", 10*time.Second)

	res, _ := request(t, http.MethodOptions, srv.HTTPURL("/live/turn/whep"), "", "")
	servers := iceServers(t, res.Header)
	if len(servers) != 2 || servers[0].URLs[0] != "stun:127.0.0.1:3478" || servers[1].Username != "alice" || servers[1].Credential != "s3cret" {
		t.Fatalf("OPTIONS Link headers %q", res.Header.Values("Link"))
	}
	m := &pwebrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc := loopbackPeerWith(t, pwebrtc.Configuration{ICEServers: servers[1:], ICETransportPolicy: pwebrtc.ICETransportPolicyRelay},
		pwebrtc.NetworkTypeUDP4, m, nil)
	p, offer := newPeerOn(t, pc, pwebrtc.RTPCodecTypeVideo)
	if !strings.Contains(offer, "typ relay") || strings.Contains(offer, "typ host") {
		t.Fatalf("the offer has candidates other than TURN's:\n%s", offer)
	}
	res, answer := post(t, srv.HTTPURL("/live/turn/whep"), "application/sdp", offer)
	if res.StatusCode != http.StatusCreated || len(iceServers(t, res.Header)) != 2 {
		t.Fatalf("WHEP answer: %s, Link %q", res.Status, res.Header.Values("Link"))
	}
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	pair, err := p.selectedPair()
	if err != nil || pair == nil || pair.Local.Typ != pwebrtc.ICECandidateTypeRelay {
		t.Fatalf("selected candidate pair %v (%v), want the player's end on the TURN server", pair, err)
	}
	p.decodesAll(t, "h264", "through TURN")
	if n := p.videoPkt.Load(); relayed.Load() < n {
		t.Fatalf("the TURN server sent %d packets, the player got %d video packets", relayed.Load(), n)
	}
}
