package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// Relay is what the RTSP server needs from the relay: streams to read, and a place to
// publish what RTSP publishers (ANNOUNCE, RECORD) send.
type Relay interface {
	// Demand returns the stream at path for a viewer; a pulled path comes on demand, with
	// key passed on to its source.
	Demand(ctx context.Context, path, key string) (*relay.Stream, error)
	Publish(path string) (*relay.Publisher, error)
}

// Authorizer decides who may publish and watch; access.Policy is one.
type Authorizer interface {
	AllowRead(r access.Request) error
	AllowPublish(ctx context.Context, r access.Request) error
}

// readUser is the user name a viewer gives with the read key as password
// (rtsp://relaycast:KEY@HOST:8554/live/NAME), for players that cannot add ?key= to a URL.
const readUser = "relaycast"

// Config tunes the server.
type Config struct {
	// RTPPort and RTCPPort are the UDP ports for RTP over UDP (RTP even, RTCP the next one).
	// Zero disables UDP; sessions then use TCP.
	RTPPort, RTCPPort int
	// MulticastRange (e.g. "224.1.0.0/16") enables UDP multicast, sent to
	// MulticastRTPPort/MulticastRTCPPort. Empty disables it.
	MulticastRange                      string
	MulticastRTPPort, MulticastRTCPPort int
	// ReadTimeout and WriteTimeout drop peers that stall.
	ReadTimeout, WriteTimeout time.Duration
	// WriteQueue is how many packets may wait for each UDP session (a power of two). A
	// joining UDP session is sent the current GOP at once if it fills at most 7/8 of the
	// queue; each slot costs 16 bytes per session. TCP sessions have no queue: they are
	// written from their relay reader.
	WriteQueue int
	// HandshakeTimeout closes a new connection that sends nothing for this long.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing for this long. It must exceed the
	// interval of players' keep-alives on a UDP session (they send one at least every 30 s).
	IdleTimeout time.Duration
	// Access decides who may watch; nil lets everyone. A read key is given as ?key=KEY, or as
	// the password of Basic or Digest authentication with the user name "relaycast".
	Access Authorizer
	// TrackWait is how long DESCRIBE waits for a stream that just went live to show its tracks.
	TrackWait time.Duration
	// UDPReplayBytes bounds the GOP sent to a joining UDP session. It arrives as one burst,
	// which the player's socket must hold until the player reads: Linux gives a socket
	// 208 KiB unless the player asks for more and the system allows it (net.core.rmem_max).
	// What does not fit is lost, and with it pictures until the next keyframe, so a session
	// that would get a bigger GOP starts at the next keyframe instead.
	UDPReplayBytes int
	// KeyframeWait bounds how long PLAY waits for the next keyframe when the current GOP is
	// not replayed to the session (too big for its queue or its UDP receive buffer).
	KeyframeWait time.Duration
	// Stored plays stored media to sessions of vod/NAME (seek with Range, PAUSE); nil: none.
	Stored relay.StoredMedia
	// Sessions is the book viewers are entered in; nil: one of the server's own.
	Sessions *session.Table
	// MaxLag is how far behind the newest frame a TCP viewer may fall before it skips to
	// the latest keyframe (relay.Config.MaxLag); zero keeps the relay's default.
	MaxLag time.Duration
}

// DefaultConfig returns the defaults (UDP ports 8000/8001, multicast off).
func DefaultConfig() Config {
	return Config{
		RTPPort: 8000, RTCPPort: 8001,
		MulticastRTPPort: 8002, MulticastRTCPPort: 8003,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		WriteQueue: 1024, TrackWait: 2 * time.Second, KeyframeWait: 10 * time.Second, UDPReplayBytes: 192 << 10, IdleTimeout: 75 * time.Second,
		HandshakeTimeout: 10 * time.Second,
	}
}

// joining is a session between its PLAY and the response: it holds its feed.
type joining struct {
	f *feed
	t *ticket
}

// detaching is a TCP session between its PLAY and the response, after which its viewer
// takes the connection over.
type detaching struct {
	v  *tcpViewer
	f  *feed
	ss *gortsplib.ServerSession
}

// Server serves every live relay path over RTSP. UDP and multicast sessions are gortsplib's
// to the end; a session over TCP is gortsplib's until its PLAY is answered, and then a
// tcpViewer's (tcpviewer.go).
type Server struct {
	cfg     Config
	relays  Relay
	log     *slog.Logger
	lib     *gortsplib.Server
	feeds   relay.Derive[*feed] // each live path's packets, as TCP viewers read them
	udp     udpPorts
	closed  chan struct{}
	once    sync.Once
	workers sync.WaitGroup // the tcpViewers' goroutines

	// mu guards what follows and the state of each connection and session (state.go)
	mu         sync.Mutex
	setupMu    sync.Mutex            // see holdSetup
	setupBy    *gortsplib.ServerConn // the connection whose SETUP holds setupMu; under mu
	tcpViewers map[*tcpViewer]struct{}
	refusals   session.Refusals
	described  map[string]*gortsplib.ServerStream // SDP-only streams of stored files (stored.go)
}

// New returns a server reading from relays.
func New(cfg Config, relays Relay, log *slog.Logger) *Server {
	if cfg.Sessions == nil {
		cfg.Sessions = &session.Table{}
	}
	s := &Server{
		cfg: cfg, relays: relays, log: log,
		closed:     make(chan struct{}),
		tcpViewers: make(map[*tcpViewer]struct{}),
		described:  make(map[string]*gortsplib.ServerStream),
	}
	s.feeds = relay.Derive[*feed]{New: s.newFeed, TrackWait: cfg.TrackWait, MaxLag: cfg.MaxLag, Label: "rtsp", Log: log}
	return s
}

func (s *Server) newFeed(rs *relay.Stream, tracks []*relay.Track, out *relay.Publisher) (*feed, error) {
	return newFeed(s.lib, out, rs.Path(), tracks, s.maxReplay(), s.cfg.UDPReplayBytes, s.log.With("path", rs.Path()))
}

// maxReplay is how many packets a joining session may be sent from the GOP cache: most of
// its queue, leaving room for the live packets that arrive before it starts writing.
func (s *Server) maxReplay() int { return s.cfg.WriteQueue - s.cfg.WriteQueue/8 }

// Serve serves RTSP on l (and on the configured UDP ports) until Shutdown or Close, and then
// returns nil.
func (s *Server) Serve(l net.Listener) error {
	host, _, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return fmt.Errorf("rtsp serve: %w", err)
	}
	lib := &gortsplib.Server{
		Handler:        s,
		RTSPAddress:    l.Addr().String(),
		ReadTimeout:    s.cfg.ReadTimeout,
		WriteTimeout:   s.cfg.WriteTimeout,
		IdleTimeout:    s.cfg.IdleTimeout,
		WriteQueueSize: s.cfg.WriteQueue,
		ListenPacket:   s.udp.listenPacket,
		Listen: func(string, string) (net.Listener, error) {
			return &idleListener{Listener: l, idle: s.cfg.IdleTimeout, first: s.cfg.HandshakeTimeout}, nil
		},
	}
	if s.cfg.RTPPort != 0 {
		lib.UDPRTPAddress = net.JoinHostPort(host, strconv.Itoa(s.cfg.RTPPort))
		lib.UDPRTCPAddress = net.JoinHostPort(host, strconv.Itoa(s.cfg.RTCPPort))
	}
	if s.cfg.MulticastRange != "" {
		lib.MulticastIPRange = s.cfg.MulticastRange
		lib.MulticastRTPPort, lib.MulticastRTCPPort = s.cfg.MulticastRTPPort, s.cfg.MulticastRTCPPort
	}
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		return nil
	default:
	}
	s.lib = lib // before Start: the handlers gortsplib calls read it
	if err := lib.Start(); err != nil {
		s.lib = nil
		s.mu.Unlock()
		return fmt.Errorf("rtsp serve: %w", err)
	}
	s.mu.Unlock()
	<-s.closed
	return nil
}

// Shutdown ends every feed, which says goodbye (RTCP BYE) to its sessions, then closes the
// server. It returns when everything has stopped or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Close()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rtsp shutdown: %w", ctx.Err())
	}
}

// Close stops the server, its feeds and every session.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		close(s.closed)
		lib := s.lib
		for v := range s.tcpViewers {
			v.stop(errServerClosing)
		}
		s.mu.Unlock()
		s.feeds.Close()
		if lib != nil {
			lib.Close()
		}
		s.udp.close()
		s.workers.Wait()
		s.mu.Lock()
		for name, st := range s.described {
			st.Close()
			delete(s.described, name)
		}
		s.mu.Unlock()
	})
	return nil
}

var errServerClosing = errors.New("server closing")

// relayPath turns an RTSP request path (/live/NAME) into a relay path (live/NAME).
func relayPath(p string) string { return strings.Trim(p, "/") }

// feedFor returns the feed of a live path, starting it on first use.
func (s *Server) feedFor(path, query string) (*feed, error) {
	q, _ := url.ParseQuery(query)
	rs, err := s.relays.Demand(context.Background(), path, q.Get("key"))
	if err != nil {
		return nil, err
	}
	d, err := s.feeds.Get(context.Background(), rs)
	if err != nil {
		return nil, err
	}
	return d.Deriver, nil
}

func statusFor(err error) base.StatusCode {
	switch {
	case errors.Is(err, relay.ErrNotFound), errors.Is(err, relay.ErrInvalidPath), errors.Is(err, relay.ErrEnded):
		return base.StatusNotFound
	case errors.Is(err, relay.ErrNoTime):
		return base.StatusInvalidRange
	default:
		return base.StatusInternalServerError
	}
}

// authorize checks a viewer's request. Without credentials the answer is 401 with a
// challenge (gortsplib adds it); with wrong ones, gortsplib also closes the connection.
func (s *Server) authorize(sc *gortsplib.ServerConn, req *base.Request, path, query string) (*base.Response, error) {
	if s.cfg.Access == nil {
		return nil, nil
	}
	q, _ := url.ParseQuery(query)
	r := access.Request{
		Protocol: "rtsp", Path: path, Addr: sc.NetConn().RemoteAddr(), Query: q,
		Secret: func(key string) bool { return sc.VerifyCredentials(req, readUser, key) },
		Login:  func(user, pass string) bool { return sc.VerifyCredentials(req, user, pass) },
	}
	if err := s.cfg.Access.AllowRead(r); err != nil {
		if _, tried := req.Header["Authorization"]; tried || q.Has("key") {
			s.refusals.Add("play", access.Reason(err))
		}
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	return nil, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	path := replayed(relayPath(ctx.Path), ctx.Request)
	if res, err := s.authorize(ctx.Conn, ctx.Request, path, ctx.Query); res != nil {
		return res, nil, err
	}
	if name, ok := storedName(path); ok {
		st, err := s.describeStored(ctx.Conn, name)
		if err != nil {
			s.refusals.Add("play", access.Reason(err))
			return &base.Response{StatusCode: statusFor(err)}, nil, fmt.Errorf("rtsp describe %s: %w", path, err)
		}
		return &base.Response{StatusCode: base.StatusOK}, st, nil
	}
	f, err := s.feedFor(path, ctx.Query)
	if err != nil {
		s.refusals.Add("play", access.Reason(err))
		return &base.Response{StatusCode: statusFor(err)}, nil, fmt.Errorf("rtsp describe %s: %w", path, err)
	}
	return &base.Response{StatusCode: base.StatusOK}, f.stream, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	path := replayed(relayPath(ctx.Path), ctx.Request)
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil // ANNOUNCE checked the publisher
	}
	if res, err := s.authorize(ctx.Conn, ctx.Request, path, ctx.Query); res != nil {
		return res, nil, err
	}
	var stream *gortsplib.ServerStream
	if name, ok := storedName(path); ok {
		st, err := s.setupStored(ctx.Session, name)
		if err != nil {
			return &base.Response{StatusCode: statusFor(err)}, nil, fmt.Errorf("rtsp setup %s: %w", path, err)
		}
		stream = st
	} else {
		f, err := s.feedFor(path, ctx.Query)
		if err != nil {
			return &base.Response{StatusCode: statusFor(err)}, nil, fmt.Errorf("rtsp setup %s: %w", path, err)
		}
		stream = f.stream
	}
	s.holdSetup(ctx.Conn)
	return &base.Response{StatusCode: base.StatusOK}, stream, nil
}

// holdSetup makes the rest of a SETUP, which gortsplib does after OnSetup returns, run alone
// until its response goes out (releaseSetup). gortsplib v5.6.4 replaces a session's
// transport on its second SETUP while another session's SETUP of the same stream reads the
// transports of all (ServerStream.readerAdd): a data race, which two UDP players setting up
// at once showed under the race detector.
func (s *Server) holdSetup(sc *gortsplib.ServerConn) {
	s.setupMu.Lock()
	s.mu.Lock()
	s.setupBy = sc
	s.mu.Unlock()
}

// releaseSetup ends the hold of holdSetup when its connection's response is on its way.
func (s *Server) releaseSetup(sc *gortsplib.ServerConn) {
	s.mu.Lock()
	held := s.setupBy == sc && sc != nil
	if held {
		s.setupBy = nil
	}
	s.mu.Unlock()
	if held {
		s.setupMu.Unlock()
	}
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	path := replayed(relayPath(ctx.Path), ctx.Request)
	if _, ok := storedName(path); ok {
		return s.playStored(ctx, path)
	}
	f, err := s.feedFor(path, ctx.Query)
	if err != nil {
		return &base.Response{StatusCode: statusFor(err)}, fmt.Errorf("rtsp play %s: %w", path, err)
	}
	if ctx.Session.Stream() != f.stream { // set up on a feed that has ended since
		return &base.Response{StatusCode: base.StatusNotFound}, fmt.Errorf("rtsp play %s: %w", path, relay.ErrEnded)
	}
	var v *tcpViewer
	if ctx.Session.State() != gortsplib.ServerSessionStatePlay {
		if chans := s.tcpChannels(ctx.Conn, ctx.Session, f); chans != nil {
			v = s.newTCPViewer(f, path, ctx.Conn.NetConn().RemoteAddr().String(), chans)
		}
	}
	var t *ticket
	c := connOf(ctx.Conn)
	s.mu.Lock()
	switch {
	case c.join != nil || c.detach != nil:
		if v != nil {
			v.drop()
		}
	case v != nil:
		c.detach = &detaching{v: v, f: f, ss: ctx.Session}
	case ctx.Session.State() != gortsplib.ServerSessionStatePlay:
		t = f.join(ctx.Session)
		c.join = &joining{f: f, t: t}
	}
	s.enterPlaying(ctx, path)
	s.mu.Unlock()
	if t != nil {
		f.awaitKeyframe(t, s.cfg.KeyframeWait)
	}
	s.log.Info("viewer join", "path", path, "protocol", "rtsp", "transport", transportName(ctx.Session),
		"remote", ctx.Conn.NetConn().RemoteAddr().String())
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnResponse implements gortsplib.ServerHandlerOnResponse: once a PLAY response is on its
// way the session is live and the feed may go on, or its viewer takes the connection.
func (s *Server) OnResponse(sc *gortsplib.ServerConn, res *base.Response) {
	s.releaseSetup(sc)
	s.noteChannel(sc, res)
	c := connOf(sc)
	s.mu.Lock()
	d, length, described, live := c.detach, c.length, c.describing, c.liveOptions
	c.detach, c.describing, c.liveOptions = nil, false, false
	s.mu.Unlock()
	if live {
		livePublic(res)
	}
	if described && res.StatusCode == base.StatusOK {
		addRange(res, length)
	}
	if d != nil {
		s.detach(sc, d, res)
		return
	}
	if j := s.unhold(sc); j != nil && res.StatusCode == base.StatusOK {
		j.f.rewriteRTPInfo(res, j.t.starts)
	}
}

// noteChannel records the interleaved channel a SETUP response over TCP gives its media,
// the last the session has set up.
func (s *Server) noteChannel(sc *gortsplib.ServerConn, res *base.Response) {
	v, ok := res.Header["Transport"]
	if !ok || res.StatusCode != base.StatusOK {
		return
	}
	var th headers.Transport
	ss := sc.Session()
	if th.Unmarshal(v) != nil || th.InterleavedIDs == nil || ss == nil {
		return
	}
	medias := ss.Medias()
	if len(medias) == 0 {
		return
	}
	c := connOf(sc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.channels == nil {
		c.channels = map[*description.Media]int{}
	}
	c.channels[medias[len(medias)-1]] = th.InterleavedIDs[0]
}

// tcpChannels returns the interleaved RTP channel of each of f's medias (-1: not set up)
// for a session that a tcpViewer can take over: plain TCP, no HTTP or WebSocket tunnel.
// It returns nil for any other.
func (s *Server) tcpChannels(sc *gortsplib.ServerConn, ss *gortsplib.ServerSession, f *feed) []int {
	if tr := ss.Transport(); tr == nil || tr.Protocol != gortsplib.ProtocolTCP {
		return nil
	}
	if _, ok := sc.NetConn().(*peerConn); !ok || sc.Transport().Tunnel != gortsplib.TunnelNone {
		return nil
	}
	c := connOf(sc)
	s.mu.Lock()
	defer s.mu.Unlock()
	chans := make([]int, len(f.tracks))
	for i, t := range f.tracks {
		chans[i] = -1
		if ch, ok := c.channels[t.media]; ok {
			chans[i] = ch
		}
	}
	for _, m := range ss.Medias() {
		if _, ok := c.channels[m]; !ok {
			return nil
		}
	}
	return chans
}

// detach hands a TCP session's connection to its viewer once the PLAY response is written.
// The viewer counts itself from then on; gortsplib closes the session, its queue and
// goroutines.
func (s *Server) detach(sc *gortsplib.ServerConn, d *detaching, res *base.Response) {
	if res.StatusCode != base.StatusOK {
		d.v.drop()
		return
	}
	if id := res.Header["Session"]; len(id) > 0 {
		d.v.session = id[0]
	}
	starts := map[*description.Media]rtpStart{}
	for i, st := range d.v.starts {
		starts[d.f.tracks[i].media] = st
	}
	d.f.rewriteRTPInfo(res, starts)
	sc.NetConn().(*peerConn).detachAfterResponse(func(c net.Conn) {
		if c == nil {
			d.v.drop()
			return
		}
		st := stateOf(d.ss)
		s.mu.Lock()
		sess := st.playing
		st.playing, st.lagging = nil, false
		s.mu.Unlock()
		d.v.adopt(sess, sessionCounts(d.ss))
		d.v.start(c)
	})
}

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (s *Server) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	s.releaseSetup(ctx.Conn)
	s.unhold(ctx.Conn)
	c := connOf(ctx.Conn)
	s.mu.Lock()
	d := c.detach
	c.detach = nil
	s.mu.Unlock()
	if d != nil {
		d.v.drop()
	}
}

func (s *Server) unhold(sc *gortsplib.ServerConn) *joining {
	c := connOf(sc)
	s.mu.Lock()
	j := c.join
	c.join = nil
	s.mu.Unlock()
	if j != nil {
		j.f.unhold(j.t)
	}
	return j
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (s *Server) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.closeStored(ctx.Session)
	s.endRecording(ctx.Session, ctx.Error)
	st := stateOf(ctx.Session)
	s.mu.Lock()
	sess := st.playing
	st.playing = nil
	s.mu.Unlock()
	if sess != nil {
		sess.Close(ctx.Error)
		s.log.Info("viewer leave", "path", sess.Path, "protocol", "rtsp", "reason", session.Reason(ctx.Error))
	}
}

func transportName(ss *gortsplib.ServerSession) string {
	if t := ss.Transport(); t != nil {
		return t.Protocol.String()
	}
	return "unknown"
}

// Viewers returns how many viewers each path has on this server.
func (s *Server) Viewers() map[string]int { return s.cfg.Sessions.Readers("rtsp") }

// enterPlaying enters a session that starts to play in the book, unless it is there (a PLAY
// after PAUSE). Called with mu held.
func (s *Server) enterPlaying(ctx *gortsplib.ServerHandlerOnPlayCtx, path string) {
	ss := ctx.Session
	st := stateOf(ss)
	if st.playing != nil {
		return
	}
	sess := s.cfg.Sessions.Open(session.Info{Protocol: "rtsp", Kind: session.Read, Path: path,
		Remote: ctx.Conn.NetConn().RemoteAddr().String(), Transport: transportName(ss)})
	sess.CountFrom(func() session.Counts { return sessionCounts(ss) })
	sess.OnKick(ss.Close)
	st.playing = sess
}

// sessionCounts reads the traffic of a session gortsplib serves.
func sessionCounts(ss *gortsplib.ServerSession) session.Counts {
	st := ss.Stats()
	return session.Counts{BytesIn: st.InboundBytes, BytesOut: st.OutboundBytes}
}

// Refusals returns the plays refused so far, by reason. A request without credentials
// that is answered with a challenge is not one: players ask again with them.
func (s *Server) Refusals() map[session.Refusal]uint64 { return s.refusals.Counts() }

// OnStreamWriteError implements gortsplib.ServerHandlerOnStreamWriteError: a session whose
// write queue is full loses packets (its player, and only it, sees broken pictures until the
// next keyframe). Logged once per session; gortsplib would print every packet to stderr.
func (s *Server) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	st := stateOf(ctx.Session)
	s.mu.Lock()
	sess, first := st.playing, !st.lagging
	st.lagging = true
	s.mu.Unlock()
	if sess == nil {
		return
	}
	sess.AddDropped(1)
	if first {
		s.log.Warn("rtsp viewer falls behind: packets dropped", "path", sess.Path, "err", ctx.Error,
			"queue", s.cfg.WriteQueue)
	}
}
