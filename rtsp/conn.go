package rtsp

import (
	"net"
	"sync"
	"time"
)

// idleListener gives every RTSP connection an idle deadline. gortsplib reads requests with no
// deadline at all, so without this a peer that sends half a request, or nothing, would hold its
// connection and goroutines for ever.
type idleListener struct {
	net.Listener
	idle time.Duration
}

func (l *idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: c, idle: l.idle}, nil
}

// idleConn applies the idle deadline to each read unless gortsplib has set one of its own.
type idleConn struct {
	net.Conn
	idle time.Duration
	mu   sync.Mutex
	own  time.Time // the read deadline gortsplib asked for; zero: none
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
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Read(p)
}
