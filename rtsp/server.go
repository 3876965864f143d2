package rtsp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aler9/gortsplib/v2"
	"github.com/aler9/gortsplib/v2/pkg/auth"
	"github.com/aler9/gortsplib/v2/pkg/base"

	"github.com/relaycast/relaycast/relay"
)

// Relay is what the RTSP server needs from the relay.
type Relay interface {
	Lookup(path string) (*relay.Stream, error)
}

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
	// WriteQueue is how many packets may wait for each session (a power of two); it must hold
	// a GOP for a joining session's first picture to come at once.
	WriteQueue int
	// HandshakeTimeout closes a new connection that sends nothing for this long.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing for this long. It must exceed the
	// interval of players' keep-alives on a UDP session (they send one at least every 30 s).
	IdleTimeout time.Duration
	// ReadKey, when set, is required from viewers: as ?key=KEY in the URL, or as the password
	// of Basic or Digest authentication with the user name "relaycast"
	// (rtsp://relaycast:KEY@HOST:8554/live/NAME).
	ReadKey string
	// TrackWait is how long DESCRIBE waits for a stream that just went live to show its tracks.
	TrackWait time.Duration
}

// DefaultConfig returns the defaults (UDP ports 8000/8001, multicast off).
func DefaultConfig() Config {
	return Config{
		RTPPort: 8000, RTCPPort: 8001,
		MulticastRTPPort: 8002, MulticastRTCPPort: 8003,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		WriteQueue: 4096, TrackWait: 2 * time.Second, IdleTimeout: 75 * time.Second,
		HandshakeTimeout: 10 * time.Second,
	}
}

// Server serves every live relay path over RTSP.
type Server struct {
	cfg    Config
	relays Relay
	log    *slog.Logger
	lib    *gortsplib.Server

	mu      sync.Mutex
	feeds   map[*relay.Stream]*feed
	joining map[*gortsplib.ServerConn]*feed
	playing map[*gortsplib.ServerSession]string // path of each playing session
	members map[*gortsplib.ServerSession]*feed  // the feed each set-up session reads
	auth    *auth.Validator
	closed  bool
	viewers relay.Viewers
}

// New returns a server reading from relays.
func New(cfg Config, relays Relay, log *slog.Logger) *Server {
	var v *auth.Validator
	if cfg.ReadKey != "" {
		v = auth.NewValidator("relaycast", cfg.ReadKey, nil)
	}
	return &Server{
		auth: v,
		cfg:  cfg, relays: relays, log: log,
		feeds:   make(map[*relay.Stream]*feed),
		joining: make(map[*gortsplib.ServerConn]*feed),
		playing: make(map[*gortsplib.ServerSession]string),
		members: make(map[*gortsplib.ServerSession]*feed),
	}
}

// Start serves RTSP on l (and on the configured UDP ports) until Close.
func (s *Server) Start(l net.Listener) error {
	host, _, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return fmt.Errorf("rtsp start: %w", err)
	}
	s.lib = &gortsplib.Server{
		Handler:          s,
		RTSPAddress:      l.Addr().String(),
		ReadTimeout:      s.cfg.ReadTimeout,
		WriteTimeout:     s.cfg.WriteTimeout,
		WriteBufferCount: s.cfg.WriteQueue,
		Listen: func(string, string) (net.Listener, error) {
			return &idleListener{Listener: l, idle: s.cfg.IdleTimeout, first: s.cfg.HandshakeTimeout}, nil
		},
	}
	if s.cfg.RTPPort != 0 {
		s.lib.UDPRTPAddress = net.JoinHostPort(host, strconv.Itoa(s.cfg.RTPPort))
		s.lib.UDPRTCPAddress = net.JoinHostPort(host, strconv.Itoa(s.cfg.RTCPPort))
	}
	if s.cfg.MulticastRange != "" {
		s.lib.MulticastIPRange = s.cfg.MulticastRange
		s.lib.MulticastRTPPort, s.lib.MulticastRTCPPort = s.cfg.MulticastRTPPort, s.cfg.MulticastRTCPPort
	}
	if err := s.lib.Start(); err != nil {
		return fmt.Errorf("rtsp start: %w", err)
	}
	return nil
}

// Close stops the server, its feeds and every session.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	feeds := make([]*feed, 0, len(s.feeds))
	for _, f := range s.feeds {
		feeds = append(feeds, f)
	}
	s.mu.Unlock()
	for _, f := range feeds {
		f.stop()
	}
	if s.lib == nil {
		return nil
	}
	s.lib.Close()
	return nil
}

// relayPath turns an RTSP request path (/live/NAME) into a relay path (live/NAME).
func relayPath(p string) string { return strings.Trim(p, "/") }

// feedFor returns the feed of a live path, starting it on first use.
func (s *Server) feedFor(path string) (*feed, error) {
	rs, err := s.relays.Lookup(path)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	f, ok := s.feeds[rs]
	s.mu.Unlock()
	if ok {
		return f, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.TrackWait)
	defer cancel()
	tracks, err := rs.WaitTracks(ctx, 500*time.Millisecond)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, relay.ErrClosed
	}
	if f, ok := s.feeds[rs]; ok { // started meanwhile
		return f, nil
	}
	f, err = newFeed(rs, tracks, s.log.With("path", path))
	if err != nil {
		return nil, err
	}
	s.feeds[rs] = f
	f.start(s.feedEnded)
	return f, nil
}

// feedEnded retires a feed whose stream is over: new requests get a new feed at once, its
// sessions are closed, and its ServerStream is closed only when gortsplib has removed them
// all. (gortsplib v2.2.2's ServerStream.Close walks its readers without a lock, so closing it
// while sessions leave is a data race.)
func (s *Server) feedEnded(f *feed) {
	s.mu.Lock()
	if s.feeds[f.rs] == f {
		delete(s.feeds, f.rs)
	}
	for ss, mf := range s.members {
		if mf == f {
			ss.Close()
		}
	}
	s.mu.Unlock()
	for deadline := time.Now().Add(3 * time.Second); s.hasMembers(f) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	f.stream.Close()
}

func (s *Server) hasMembers(f *feed) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, mf := range s.members {
		if mf == f {
			return true
		}
	}
	return false
}

func statusFor(err error) base.StatusCode {
	switch {
	case errors.Is(err, relay.ErrNotFound), errors.Is(err, relay.ErrInvalidPath), errors.Is(err, relay.ErrEnded):
		return base.StatusNotFound
	default:
		return base.StatusInternalServerError
	}
}

// authorize checks the read key of a request, answering 401 with a challenge without one.
func (s *Server) authorize(req *base.Request, query string) *base.Response {
	if s.auth == nil {
		return nil
	}
	if q, _ := url.ParseQuery(query); subtle.ConstantTimeCompare([]byte(q.Get("key")), []byte(s.cfg.ReadKey)) == 1 {
		return nil
	}
	if _, ok := req.Header["Authorization"]; ok && s.auth.ValidateRequest(req, nil) == nil {
		return nil
	}
	return &base.Response{StatusCode: base.StatusUnauthorized, Header: base.Header{"WWW-Authenticate": s.auth.Header()}}
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res := s.authorize(ctx.Request, ctx.Query); res != nil {
		return res, nil, nil // no error: gortsplib would close the connection the retry comes on
	}
	f, err := s.feedFor(relayPath(ctx.Path))
	if err != nil {
		return &base.Response{StatusCode: statusFor(err)}, nil, fmt.Errorf("rtsp describe %s: %w", ctx.Path, err)
	}
	return &base.Response{StatusCode: base.StatusOK}, f.stream, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res := s.authorize(ctx.Request, ctx.Query); res != nil {
		return res, nil, nil
	}
	f, err := s.feedFor(relayPath(ctx.Path))
	if err != nil {
		return &base.Response{StatusCode: statusFor(err)}, nil, fmt.Errorf("rtsp setup %s: %w", ctx.Path, err)
	}
	s.mu.Lock()
	s.members[ctx.Session] = f
	s.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, f.stream, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	f, err := s.feedFor(relayPath(ctx.Path))
	if err != nil {
		return &base.Response{StatusCode: statusFor(err)}, fmt.Errorf("rtsp play %s: %w", ctx.Path, err)
	}
	path := relayPath(ctx.Path)
	s.mu.Lock()
	if _, ok := s.joining[ctx.Conn]; !ok {
		s.joining[ctx.Conn] = f
		f.join(ctx.Session)
	}
	if _, ok := s.playing[ctx.Session]; !ok {
		s.playing[ctx.Session] = path
		s.viewers.Add(path, 1)
	}
	s.mu.Unlock()
	s.log.Info("viewer join", "path", path, "protocol", "rtsp", "transport", transportName(ctx.Session),
		"remote", ctx.Conn.NetConn().RemoteAddr().String())
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnResponse implements gortsplib.ServerHandlerOnResponse: once a PLAY response is on its
// way the session is live and the feed may go on.
func (s *Server) OnResponse(sc *gortsplib.ServerConn, _ *base.Response) {
	s.mu.Lock()
	f, ok := s.joining[sc]
	delete(s.joining, sc)
	s.mu.Unlock()
	if ok {
		f.unhold()
	}
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (s *Server) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	path, ok := s.playing[ctx.Session]
	delete(s.playing, ctx.Session)
	delete(s.members, ctx.Session)
	s.mu.Unlock()
	if ok {
		s.viewers.Add(path, -1)
		s.log.Info("viewer leave", "path", path, "protocol", "rtsp", "reason", ctx.Error)
	}
}

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (s *Server) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	s.mu.Lock()
	f, ok := s.joining[ctx.Conn]
	delete(s.joining, ctx.Conn)
	s.mu.Unlock()
	if ok {
		f.unhold()
	}
}

func transportName(ss *gortsplib.ServerSession) string {
	if t := ss.SetuppedTransport(); t != nil {
		return t.String()
	}
	return "unknown"
}

// Viewers returns how many viewers each path has on this server.
func (s *Server) Viewers() map[string]int { return s.viewers.Viewers() }
