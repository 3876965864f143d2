package rtsp

import (
	"net"
	"sync"
	"time"
)

// idleListener gives every RTSP connection an idle deadline (and a shorter one until its
// first bytes) and a request guard. gortsplib reads requests with no deadline at all, so
// without this a peer that sends half a request, or nothing, would hold its connection and
// goroutines for ever.
type idleListener struct {
	net.Listener
	idle  time.Duration
	first time.Duration // deadline for the first bytes of a new connection
}

func (l *idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: c, idle: l.idle, first: l.first}, nil
}

// idleConn applies the idle deadline to each read unless gortsplib has set one of its own.
type idleConn struct {
	net.Conn
	idle  time.Duration
	first time.Duration
	seen  bool // the peer has sent something
	guard requestGuard
	mu    sync.Mutex
	own   time.Time // the read deadline gortsplib asked for; zero: none
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.own = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *idleConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.own = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	own := c.own
	c.mu.Unlock()
	if own.IsZero() {
		d := c.idle
		if !c.seen {
			d = c.first
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.seen = true
		if gerr := c.guard.feed(p[:n]); gerr != nil {
			_ = c.Conn.Close()
			return 0, gerr
		}
	}
	return n, err
}
