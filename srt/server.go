// Package srt is the SRT server (gosrt): callers publish MPEG-TS into the relay, and read
// it back, muxed once per stream. A caller says what it wants in its stream id
// (ParseStreamID); publish and read keys, limits and hand-over are those of every protocol.
// Its client side is what a link calls: Pull a listener's stream, Push one to it.
package srt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// Relay is what the server needs from the relay.
type Relay interface {
	Publish(path string) (*relay.Publisher, error)
	// Demand returns the stream at path for a viewer; a pulled path comes on demand, with
	// key passed on to its source.
	Demand(ctx context.Context, path, key string) (*relay.Stream, error)
}

// Authorizer decides who may publish and watch; access.Policy is one.
type Authorizer interface {
	AllowRead(r access.Request) error
	AllowPublish(ctx context.Context, r access.Request) error
}

// Config tunes the server.
type Config struct {
	Access Authorizer // nil: everyone may publish and read
	// Admit applies the connection limits to a caller; release is called when it leaves.
	// nil: no limits.
	Admit func(addr net.Addr) (release func(), ok bool)
	// Sessions is the book publishers and viewers are entered in; nil: one of the server's own.
	Sessions *session.Table
	// Passphrase, when set, is required of every caller (AES encryption); without it,
	// encrypted callers are refused.
	Passphrase string
	// Latency is the receive buffer both sides keep for retransmissions (SRT's latency).
	Latency time.Duration
	// IdleTimeout ends a publisher that sends no media for this long.
	IdleTimeout time.Duration
	// TrackWait bounds the wait of a reader for a stream that just went live to show tracks.
	TrackWait time.Duration
	// MaxLag is how far behind the live edge a reader may fall before it skips to the next
	// keyframe.
	MaxLag time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Latency: 120 * time.Millisecond, IdleTimeout: 10 * time.Second, TrackWait: 2 * time.Second,
		MaxLag: relay.DefaultConfig().MaxLag}
}

// Server serves SRT callers.
type Server struct {
	cfg    Config
	relays Relay
	log    *slog.Logger
	// viewerLog is log without the protocol, which a viewer's join and leave lines name.
	viewerLog *slog.Logger
	muxers    relay.Derive[*muxer] // the MPEG-TS streams, one per muxed relay stream
	refusals  session.Refusals
	secret    atomic.Pointer[string] // the passphrase, which a reload may change

	mu     sync.Mutex
	conns  map[gosrt.Conn]struct{}
	lns    map[gosrt.Listener]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New returns a server publishing into and reading from relays.
func New(cfg Config, relays Relay, log *slog.Logger) *Server {
	if cfg.Sessions == nil {
		cfg.Sessions = &session.Table{}
	}
	s := &Server{cfg: cfg, relays: relays, log: log.With("protocol", "srt"), viewerLog: log,
		conns: map[gosrt.Conn]struct{}{}, lns: map[gosrt.Listener]struct{}{}}
	s.muxers = relay.Derive[*muxer]{New: s.newMuxer, TrackWait: cfg.TrackWait, MaxLag: cfg.MaxLag, Label: "srt", Log: s.log}
	s.SetPassphrase(cfg.Passphrase)
	return s
}

// SetPassphrase changes the passphrase new callers need (a reload); "" turns encryption off.
func (s *Server) SetPassphrase(p string) { s.secret.Store(&p) }

// Listen opens an SRT listener on the UDP address addr, for Serve.
func (s *Server) Listen(addr string) (gosrt.Listener, error) {
	c := gosrt.DefaultConfig()
	c.ReceiverLatency, c.PeerLatency = s.cfg.Latency, s.cfg.Latency
	c.Passphrase = "" // checked per caller, so a wrong one gets a clear refusal
	ln, err := gosrt.Listen("srt", addr, c)
	if err != nil {
		return nil, fmt.Errorf("srt listen %s: %w", addr, err)
	}
	return ln, nil
}

// Serve answers the callers of ln until ln or the server is closed; it then returns nil.
func (s *Server) Serve(ln gosrt.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	for {
		req, err := ln.Accept2()
		if err != nil {
			if errors.Is(err, gosrt.ErrListenerClosed) {
				return nil
			}
			return fmt.Errorf("srt accept: %w", err)
		}
		s.wg.Go(func() { s.handle(req) })
	}
}

// handle decides on one caller and serves it to the end.
func (s *Server) handle(req gosrt.ConnRequest) {
	release := func() {}
	if s.cfg.Admit != nil {
		var ok bool
		if release, ok = s.cfg.Admit(req.RemoteAddr()); !ok {
			req.Reject(gosrt.REJX_OVERLOAD)
			return
		}
	}
	defer release()
	id, reason, err := s.check(req)
	if err != nil {
		s.log.Warn("caller refused", "remote", req.RemoteAddr(), "streamid", req.StreamId(), "err", err)
		req.Reject(reason)
		return
	}
	switch id.Mode {
	case Publish:
		s.publish(req, id)
	case Read:
		s.read(req, id)
	}
}

// check parses the caller's stream id and applies the passphrase and the keys; it gives the
// reason for a refusal.
func (s *Server) check(req gosrt.ConnRequest) (StreamID, gosrt.RejectionReason, error) {
	id, err := ParseStreamID(req.StreamId())
	if err != nil {
		s.refusals.Add("connect", "bad_stream_id")
		return id, gosrt.REJX_BAD_REQUEST, err
	}
	kind := "play"
	if id.Mode == Publish {
		kind = "publish"
	}
	secret := *s.secret.Load()
	switch {
	case secret == "" && req.IsEncrypted():
		s.refusals.Add(kind, "encryption")
		return id, gosrt.REJ_UNSECURE, errors.New("the caller encrypts, and the server has no srt_passphrase")
	case secret != "" && !req.IsEncrypted():
		s.refusals.Add(kind, "encryption")
		return id, gosrt.REJ_UNSECURE, errors.New("the server needs a passphrase (srt_passphrase) and the caller gives none")
	case secret != "":
		if err := req.SetPassphrase(secret); err != nil {
			s.refusals.Add(kind, "encryption")
			return id, gosrt.REJ_BADSECRET, fmt.Errorf("wrong passphrase: %w", err)
		}
	}
	if err := relay.ValidatePath(id.Path); err != nil {
		s.refusals.Add(kind, access.Reason(err))
		return id, gosrt.REJX_BAD_REQUEST, err
	}
	if s.cfg.Access == nil {
		return id, 0, nil
	}
	q := url.Values{}
	for k, v := range id.Query {
		q[k] = v
	}
	if id.Key != "" {
		q.Set("key", id.Key)
	}
	r := access.Request{Protocol: "srt", Path: id.Path, Addr: req.RemoteAddr(), Query: q}
	if id.Mode == Publish {
		err = s.cfg.Access.AllowPublish(context.Background(), r)
	} else {
		err = s.cfg.Access.AllowRead(r)
	}
	if err != nil {
		s.refusals.Add(kind, access.Reason(err))
		return id, gosrt.REJX_UNAUTHORIZED, err
	}
	return id, 0, nil
}

// accept completes the handshake and keeps the connection for Close.
func (s *Server) accept(req gosrt.ConnRequest) (gosrt.Conn, error) {
	conn, err := req.Accept()
	if err != nil {
		return nil, fmt.Errorf("srt accept %s: %w", req.RemoteAddr(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		conn.Close()
		return nil, relay.ErrClosed
	}
	s.conns[conn] = struct{}{}
	return conn, nil
}

func (s *Server) forget(conn gosrt.Conn) {
	conn.Close()
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
}

// Shutdown closes the listeners and every connection and waits, until ctx ends, for the
// callers' goroutines to finish. SRT has no goodbye a server could wait for.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeAll()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("srt shutdown: %w", ctx.Err())
	}
}

// Close closes everything and waits.
func (s *Server) Close() error {
	s.closeAll()
	s.wg.Wait()
	return nil
}

func (s *Server) closeAll() {
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.muxers.Close()
}

// Viewers returns how many SRT readers watch each path.
func (s *Server) Viewers() map[string]int { return s.cfg.Sessions.Readers("srt") }

// Refusals counts refused callers by kind and reason, for metrics.
func (s *Server) Refusals() map[session.Refusal]uint64 { return s.refusals.Counts() }
