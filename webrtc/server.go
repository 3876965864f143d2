package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
	"github.com/relaycast/relaycast/udpgso"
)

// Errors callers tell apart; each has the HTTP status WHEP answers it with.
var (
	// ErrBadOffer is an offer that is not an SDP offer pion can answer.
	ErrBadOffer = &statusError{http.StatusBadRequest, "not a usable SDP offer"}
	// ErrNoCodec is a stream, or an offer, with no codec in common.
	ErrNoCodec = &statusError{http.StatusUnprocessableEntity, "no codec in common"}
	// ErrNoSession is a session id that is not (or no longer) there.
	ErrNoSession = &statusError{http.StatusNotFound, "no such WebRTC session"}
	// ErrOverload is a viewer over the server's connection limits.
	ErrOverload = &statusError{http.StatusServiceUnavailable, "too many connections: the server's limit is reached"}
)

type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// HTTPStatus is the status WHEP answers the error with.
func (e *statusError) HTTPStatus() int { return e.status }

// Relay is what the WebRTC server needs from the relay.
type Relay interface {
	// Demand returns the stream at path for a viewer; a pulled path comes on demand, with
	// key passed on to its source.
	Demand(ctx context.Context, path, key string) (*relay.Stream, error)
	// Publish makes the caller the publisher of path.
	Publish(path string) (*relay.Publisher, error)
}

// Config tunes the server.
type Config struct {
	// Hosts are extra addresses offered as host candidates (a NAT's public address, a
	// container's); none: the bound address's.
	Hosts []string
	// GatherTimeout bounds how long an answer waits for its candidates.
	GatherTimeout time.Duration
	// Disconnected and Failed are ICE's timeouts: a viewer whose peer went silent for
	// Failed is ended.
	Disconnected, Failed time.Duration
	// TrackWait bounds the wait for a stream that just went live to show its tracks.
	TrackWait time.Duration
	// MaxLag is how far behind the live edge a viewer may fall before it skips to the next
	// keyframe; 0: relay's default.
	MaxLag time.Duration
	// Sessions is the book viewers are entered in; nil: one of the server's own.
	Sessions *session.Table
	// Rungs are the renditions of a stream that start on demand (its ladder's): a viewer of
	// the stream may be switched to one, as to those published. nil: none.
	Rungs func(main *relay.Stream) []Layer
	// Admit applies the connection limits to a viewer (each holds a peer connection until
	// it leaves, or until ICE gives up on it); release is called when it ends. nil: none.
	Admit func(addr net.Addr) (release func(), ok bool)
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{GatherTimeout: 5 * time.Second, Disconnected: 5 * time.Second, Failed: 15 * time.Second,
		TrackWait: 2 * time.Second}
}

// Server answers WHEP offers with viewers of relay streams, all of their ICE on one UDP and
// one TCP port.
type Server struct {
	cfg    Config
	relays Relay
	log    *slog.Logger
	feeds  relay.Derive[*feed]

	mu     sync.Mutex
	api    *pwebrtc.API // viewers'
	ip     net.IP       // the bound one
	udp    net.PacketConn
	gso    *udpgso.Conn // udp's writes
	tcp    net.Listener
	udpMux ice.UDPMux
	tcpMux ice.TCPMux
	peers  map[string]peer // by session id
	closed bool
	wg     sync.WaitGroup
}

// New returns a server of relays' streams; it answers once Listen has bound its ports.
func New(cfg Config, relays Relay, log *slog.Logger) *Server {
	if cfg.Sessions == nil {
		cfg.Sessions = &session.Table{}
	}
	s := &Server{cfg: cfg, relays: relays, log: log, peers: map[string]peer{}}
	s.feeds = relay.Derive[*feed]{
		New: func(src *relay.Stream, tracks []*relay.Track, out *relay.Publisher) (*feed, error) {
			return newFeed(src, tracks, out, log)
		},
		Label: "webrtc", TrackWait: cfg.TrackWait, MaxLag: cfg.MaxLag, Log: log,
		SourceTimeline: true, // a viewer switched between renditions (abr.go)
	}
	return s
}

// Listen binds addr's UDP and TCP ports for every peer's ICE; a port in use is an error.
func (s *Server) Listen(addr string) error {
	udp, tcp, err := listenPair(addr)
	if err != nil {
		return err
	}
	logger := pionLogs(s.log)
	// Viewers send each picture's packets to their address in one system call (udpgso).
	gso := udpgso.New(udp)
	udpMux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: gso, Logger: logger.NewLogger("ice-udp")})
	tcpMux := pwebrtc.NewICETCPMux(logger.NewLogger("ice-tcp"), tcp, 64)
	ip := udp.LocalAddr().(*net.UDPAddr).IP
	api, err := s.newAPI(udpMux, tcpMux, ip, viewerCodecs, viewerInterceptors)
	if err != nil {
		udpMux.Close()
		tcpMux.Close()
		return err
	}
	s.mu.Lock()
	s.api, s.ip, s.udp, s.gso, s.tcp, s.udpMux, s.tcpMux = api, ip, udp, gso, tcp, udpMux, tcpMux
	s.mu.Unlock()
	return nil
}

// listenPair binds the UDP and the TCP port of addr. For port 0 both get the same number,
// which takes another try when the TCP port of the UDP one the system chose is taken.
func listenPair(addr string) (*net.UDPConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("webrtc listen %s: %w", addr, err)
	}
	for try := 0; ; try++ {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("webrtc listen %s (UDP): %w", addr, err)
		}
		udp, err := net.ListenUDP("udp", ua)
		if err != nil {
			return nil, nil, fmt.Errorf("webrtc listen %s (UDP): %w", addr, err)
		}
		tcpAddr := net.JoinHostPort(host, strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port))
		tcp, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" || try == 20 {
			return nil, nil, fmt.Errorf("webrtc listen %s (TCP): %w", tcpAddr, err)
		}
	}
}

// Addr is the bound address of the ICE ports (nil before Listen).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// engineCodec is one codec of a media engine.
type engineCodec struct {
	pwebrtc.RTPCodecParameters
	kind pwebrtc.RTPCodecType
}

var feedback = []pwebrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}

// viewerCodecs are what the feeds send; a viewer's answer takes the one of its stream.
var viewerCodecs = []engineCodec{
	{pwebrtc.RTPCodecParameters{PayloadType: ptVideo, RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH264,
		ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: feedback}}, pwebrtc.RTPCodecTypeVideo},
	{pwebrtc.RTPCodecParameters{PayloadType: 49, RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeH265,
		ClockRate: 90000, SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST", RTCPFeedback: feedback}}, pwebrtc.RTPCodecTypeVideo},
	{pwebrtc.RTPCodecParameters{PayloadType: 45, RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeAV1,
		ClockRate: 90000, RTCPFeedback: feedback}}, pwebrtc.RTPCodecTypeVideo},
	{pwebrtc.RTPCodecParameters{PayloadType: 98, RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeVP9,
		ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: feedback}}, pwebrtc.RTPCodecTypeVideo},
	{pwebrtc.RTPCodecParameters{PayloadType: ptAudio, RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypeOpus,
		ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}, pwebrtc.RTPCodecTypeAudio},
}

// viewerInterceptors are none: viewers' NACKs are answered from the stream's one history
// (track.go), and their sender reports follow the stream's timeline (viewer.senderReports).
// A viewer who may be switched between renditions has transport-wide feedback too
// (abrAPI).
func viewerInterceptors(*pwebrtc.MediaEngine, *interceptor.Registry) error { return nil }

func (s *Server) newAPI(udpMux ice.UDPMux, tcpMux ice.TCPMux, ip net.IP, codecs []engineCodec,
	interceptors func(*pwebrtc.MediaEngine, *interceptor.Registry) error) (*pwebrtc.API, error) {
	m := &pwebrtc.MediaEngine{}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.RTPCodecParameters, c.kind); err != nil {
			return nil, fmt.Errorf("webrtc codecs: %w", err)
		}
	}
	ir := &interceptor.Registry{}
	if err := interceptors(m, ir); err != nil {
		return nil, fmt.Errorf("webrtc interceptors: %w", err)
	}
	var se pwebrtc.SettingEngine
	se.SetICEUDPMux(udpMux)
	se.SetICETCPMux(tcpMux)
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4, pwebrtc.NetworkTypeUDP6,
		pwebrtc.NetworkTypeTCP4, pwebrtc.NetworkTypeTCP6})
	se.SetIncludeLoopbackCandidate(ip.IsLoopback())
	if !ip.IsUnspecified() {
		// Candidates follow the bound address: ICE-TCP's would otherwise name every
		// interface's, where nothing listens.
		se.SetIPFilter(func(c net.IP) bool { return c.Equal(ip) })
	}
	se.SetICETimeouts(s.cfg.Disconnected, s.cfg.Failed, time.Second)
	// Answering as the DTLS server lets the browser, the client, offer AES-GCM first.
	if err := se.SetAnsweringDTLSRole(pwebrtc.DTLSRoleServer); err != nil {
		return nil, fmt.Errorf("webrtc dtls role: %w", err)
	}
	if len(s.cfg.Hosts) > 0 {
		se.SetNAT1To1IPs(s.cfg.Hosts, pwebrtc.ICECandidateTypeHost)
	}
	se.LoggerFactory = pionLogs(s.log)
	return pwebrtc.NewAPI(pwebrtc.WithMediaEngine(m), pwebrtc.WithSettingEngine(se), pwebrtc.WithInterceptorRegistry(ir)), nil
}

// Play answers a WHEP offer for the stream at path: it returns the SDP answer, with every
// candidate in it (no trickle needed), and the session's id, which End takes.
func (s *Server) Play(ctx context.Context, path, key, remote string, offer []byte) (answer []byte, id string, err error) {
	s.mu.Lock()
	api, gso := s.api, s.gso
	s.mu.Unlock()
	return s.admit(remote, func() (peer, []byte, func(), error) {
		if api == nil {
			return nil, nil, nil, relay.ErrClosed
		}
		src, err := s.relays.Demand(ctx, path, key)
		if err != nil {
			return nil, nil, nil, err
		}
		d, err := s.feeds.Get(ctx, src)
		if err != nil {
			return nil, nil, nil, err
		}
		// A viewer of a stream with renditions gets the one its bandwidth carries.
		api := api
		var bwe cc.BandwidthEstimator
		if s.switchable(src) {
			if api, err = s.abrAPI(&bwe); err != nil {
				return nil, nil, nil, err
			}
		}
		v, answer, err := newViewer(ctx, s, api, d.Deriver, d.Stream(), offer)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("webrtc %s: %w", path, err)
		}
		if bwe != nil && v.video != nil {
			v.abr = newABR(v, src, key, bwe)
		}
		v.batch.conn = gso
		abort := func() {
			v.pc.Close()
			v.reader.Close()
		}
		return v, answer, abort, nil
	})
}

// Publish answers a WHIP offer: the session becomes the publisher of path (refused with
// relay.ErrAlreadyPublishing while another one is); it returns the answer and the session's id.
func (s *Server) Publish(ctx context.Context, path, remote string, offer []byte) (answer []byte, id string, err error) {
	s.mu.Lock()
	udpMux, tcpMux, ip := s.udpMux, s.tcpMux, s.ip
	s.mu.Unlock()
	// Each publisher's API has exactly the codecs chosen from its offer, with the offer's
	// payload types and profiles: pion takes a packet only in a codec its engine matches.
	api := func(codecs []engineCodec) (*pwebrtc.API, error) {
		return s.newAPI(udpMux, tcpMux, ip, codecs, pwebrtc.RegisterDefaultInterceptors)
	}
	return s.admit(remote, func() (peer, []byte, func(), error) {
		if udpMux == nil {
			return nil, nil, nil, relay.ErrClosed
		}
		if err := relay.ValidatePath(path); err != nil {
			return nil, nil, nil, err
		}
		p, answer, err := newPublisher(ctx, s, api, path, offer)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("webrtc %s: %w", path, err)
		}
		abort := func() {
			p.stop(relay.ErrClosed)
			p.pc.Close()
		}
		pub, err := s.relays.Publish(path)
		if err != nil {
			abort()
			return nil, nil, nil, err
		}
		pub.SetProtocol("webrtc")
		if err = p.start(pub); err != nil {
			pub.Close()
			abort()
			return nil, nil, nil, err
		}
		return p, answer, func() { pub.Close(); abort() }, nil
	})
}

// admit makes a peer under the connection limits (each holds a place from its offer until
// it ends) and runs it on a goroutine of the server's; start makes it and its answer (abort
// undoes that, should the server close meanwhile).
func (s *Server) admit(remote string, start func() (peer, []byte, func(), error)) (answer []byte, id string, err error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, "", relay.ErrClosed
	}
	release := func() {}
	if s.cfg.Admit != nil {
		var ok bool
		if release, ok = s.cfg.Admit(addrOf(remote)); !ok {
			return nil, "", ErrOverload
		}
	}
	if id, err = newID(); err != nil {
		release()
		return nil, "", err
	}
	p, answer, abort, err := start()
	if err != nil {
		release()
		return nil, "", err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		abort()
		release()
		return nil, "", relay.ErrClosed
	}
	_, ice := p.ice()
	ice.etag = strconv.Quote(id)
	s.peers[id] = p
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer release()
		p.run(remote)
		s.mu.Lock()
		delete(s.peers, id)
		s.mu.Unlock()
	}()
	return answer, id, nil
}

// End ends the session id (a WHEP or WHIP DELETE) at path.
func (s *Server) End(path, id string) error {
	s.mu.Lock()
	p := s.peers[id]
	s.mu.Unlock()
	if p == nil || p.Path() != path {
		return ErrNoSession
	}
	p.end(session.ErrLeft)
	return nil
}

// Viewers returns how many viewers each path has on this server.
func (s *Server) Viewers() map[string]int { return s.cfg.Sessions.Readers("webrtc") }

// Close ends every viewer and feed and releases the ports.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	peers := make([]peer, 0, len(s.peers))
	for _, p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	for _, p := range peers {
		p.end(relay.ErrClosed)
	}
	s.wg.Wait()
	s.feeds.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.udpMux != nil {
		err = errors.Join(s.udpMux.Close(), s.tcpMux.Close()) // each closes its socket
		s.udpMux, s.tcpMux = nil, nil
	}
	return err
}

// addrOf reads a peer's "IP:port", as net/http gives it.
func addrOf(remote string) net.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return &net.TCPAddr{}
	}
	return net.TCPAddrFromAddrPort(ap)
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webrtc session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
