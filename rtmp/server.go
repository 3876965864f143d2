package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	gortmp "github.com/yutopp/go-rtmp"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// Relay is what the RTMP server needs from the relay: a place to publish and streams to read.
type Relay interface {
	Publish(path string) (*relay.Publisher, error)
	// Demand returns the stream at path for a viewer; a pulled path comes on demand, with
	// key passed on to its source.
	Demand(ctx context.Context, path, key string) (*relay.Stream, error)
}

// Authorizer decides who may publish and play; access.Policy is one.
type Authorizer interface {
	AllowPublish(ctx context.Context, r access.Request) error
	AllowRead(r access.Request) error
}

// Config tunes the server. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Access decides who may publish and play; nil lets everyone.
	Access Authorizer
	// Stored plays stored media to players of vod/NAME; nil: none.
	Stored relay.StoredMedia
	// ChunkSize is the size of the chunks the server sends.
	ChunkSize int
	// HandshakeTimeout drops a peer that has not finished the RTMP handshake in time.
	HandshakeTimeout time.Duration
	// ReadTimeout drops a publisher (or a peer that has not started a session) that sends
	// nothing for this long. Players are exempt: they have nothing to send.
	ReadTimeout time.Duration
	// Limits bound what a peer may make the server hold.
	Limits Limits
	// WriteTimeout drops a peer that accepts no data for this long (its TCP window stays full).
	WriteTimeout time.Duration
	// SendBuffer sets each connection's socket send buffer (SO_SNDBUF) when > 0; zero leaves
	// the kernel's auto-tuning. A smaller buffer makes a stalled viewer skip sooner.
	SendBuffer int
	// NoDelay keeps TCP_NODELAY on players' sockets for good. By default a player that has
	// caught up with the live edge gets Nagle's algorithm: the kernel then merges the writes
	// of a player that is slow to acknowledge, which saves a fifth of the CPU at thousands of
	// players and costs nothing while players keep up.
	NoDelay bool
	// Sessions is the book publishers and players are entered in; nil: one of the server's own.
	Sessions *session.Table
	// EndLinger is how long a player that was told its stream ended may take to hang up
	// before the server closes the connection.
	EndLinger time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ChunkSize:        60000,
		HandshakeTimeout: 10 * time.Second,
		ReadTimeout:      30 * time.Second,
		WriteTimeout:     15 * time.Second,
		Limits:           DefaultLimits(),
		EndLinger:        3 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ChunkSize <= 0 {
		c.ChunkSize = d.ChunkSize
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.EndLinger <= 0 {
		c.EndLinger = d.EndLinger
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.Sessions == nil {
		c.Sessions = &session.Table{}
	}
	if c.Limits == (Limits{}) {
		c.Limits = d.Limits
	}
	return c
}

// Server is an RTMP server for publishers and players on one port.
type Server struct {
	cfg    Config
	relays Relay
	log    *slog.Logger

	lib      *gortmp.Server
	closed   chan struct{}
	ctx      context.Context // ends at Close: stops the shards
	stop     context.CancelFunc
	mu       sync.Mutex
	conns    map[*conn]*handler
	fanouts  map[*relay.Stream]*fanout
	active   sync.WaitGroup // one per connection until its session is torn down, one per shard
	refusals session.Refusals
}

// New returns a server that publishes into and plays from relays.
func New(cfg Config, relays Relay, log *slog.Logger) *Server {
	s := &Server{
		cfg:     cfg.withDefaults(),
		relays:  relays,
		log:     log,
		closed:  make(chan struct{}),
		conns:   make(map[*conn]*handler),
		fanouts: make(map[*relay.Stream]*fanout),
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.lib = gortmp.NewServer(&gortmp.ServerConfig{OnConnect: s.onConnect})
	return s
}

// Serve accepts connections on l until Close. It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.lib.Serve(&listener{Listener: l, closed: s.closed})
	select {
	case <-s.closed:
		return nil
	default:
		return fmt.Errorf("rtmp serve: %w", err)
	}
}

// Shutdown stops accepting, tells publishers the server is going away and waits, until ctx
// ends, for the other sessions to finish (players end once the relay's streams end: they get
// NetStream.Play.UnpublishNotify and hang up). Then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	for c, h := range s.conns {
		if id, ok := h.publishing(); ok {
			ch := newChunker(s.cfg.ChunkSize)
			ch.add(csidCommand, typeCommandAMF0, id, 0, nil, statusServerShutdown.command())
			bufs := ch.buffers()
			_ = c.writeBuffers(&bufs)
			_ = c.Conn.Close()
		}
	}
	s.mu.Unlock()
	err := s.lib.Close()
	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return errors.Join(filterClosed(err), s.Close())
}

func filterClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("rtmp close: %w", err)
}

// Close stops accepting, drops every connection and waits until their sessions are over.
func (s *Server) Close() error {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	for c := range s.conns {
		_ = c.Conn.Close()
	}
	s.mu.Unlock()
	s.stop()
	err := s.lib.Close()
	s.active.Wait()
	return filterClosed(err)
}

// onConnect is called by go-rtmp for each accepted connection, on its own goroutine.
func (s *Server) onConnect(nc net.Conn) (io.ReadWriteCloser, *gortmp.ConnConfig) {
	log := s.log.With("remote", nc.RemoteAddr().String())
	c := &conn{Conn: nc, tcp: tcpConn(nc), writeTimeout: s.cfg.WriteTimeout, guard: newGuard(s.cfg.Limits),
		onViolation: func(err error) { log.Warn("rtmp peer dropped", "err", err) }}
	if c.tcp != nil && s.cfg.SendBuffer > 0 {
		_ = c.tcp.SetWriteBuffer(s.cfg.SendBuffer)
	}
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	h := &handler{srv: s, c: c, log: log}
	c.guard.onCommand = h.heard
	s.mu.Lock()
	select {
	case <-s.closed:
		// The session fails at once and tears down through OnClose. It is not counted: Close
		// may be waiting for the count to reach zero, and a WaitGroup must not grow from zero
		// while it is waited on.
		_ = nc.Close()
	default:
		s.conns[c] = h
		s.active.Add(1)
	}
	s.mu.Unlock()
	return c, &gortmp.ConnConfig{
		// go-rtmp writes each chunk with one Write when it fits its 4 KiB buffer; its replies
		// are all smaller, so our own messages (the shutdown notice to a publisher) can go
		// between its chunks (see conn).
		Handler: h,
		ControlState: gortmp.StreamControlStateConfig{
			MaxChunkSize:      s.cfg.Limits.MaxChunkSize,
			MaxChunkStreams:   s.cfg.Limits.MaxChunkStreams,
			MaxMessageStreams: 16,
		},
	}
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	_, counted := s.conns[c]
	delete(s.conns, c)
	s.mu.Unlock()
	if counted {
		s.active.Done()
	}
}

// Viewers returns how many viewers each path has on this server.
func (s *Server) Viewers() map[string]int { return s.cfg.Sessions.Readers("rtmp") }

// Refusals returns the publishes and plays refused so far, by reason.
func (s *Server) Refusals() map[session.Refusal]uint64 { return s.refusals.Counts() }

// tcpConn finds the TCP socket under wrappers such as a connection limiter's.
func tcpConn(c net.Conn) *net.TCPConn {
	for {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case interface{ Unwrap() net.Conn }:
			c = v.Unwrap()
		default:
			return nil
		}
	}
}
