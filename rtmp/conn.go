package rtmp

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// conn is the network connection under one go-rtmp session. A publisher's stays with go-rtmp
// to the end; a player's is detached once play is answered: go-rtmp's session then ends
// without closing the socket, and the connection goes to a shard (see fanout.go).
type conn struct {
	net.Conn
	tcp          *net.TCPConn // the socket itself, for vectored writes; nil if not TCP
	writeTimeout time.Duration

	// Read side, used only by go-rtmp's read goroutine.
	guard       *guard
	readIdle    time.Duration // a silent peer is dropped after this; 0 while it plays
	readSetAt   time.Time
	onViolation func(error)

	wmu        sync.Mutex
	deadlineAt time.Time // when the write deadline was last pushed forward

	in       atomic.Uint64 // bytes read
	detached atomic.Bool
	release  func() // called instead of closing once detached; set with detached
}

var errDetached = errors.New("rtmp: connection handed over to a player shard")

// detach ends go-rtmp's hold on the connection: its next read fails, it tears the session
// down, and its close calls release instead. Called on go-rtmp's read goroutine.
func (c *conn) detach(release func()) {
	c.release = release
	c.detached.Store(true)
}

// Close is go-rtmp's: it closes the socket unless the connection was detached.
func (c *conn) Close() error {
	if c.detached.Load() {
		c.wmu.Lock()
		release := c.release
		c.release = nil
		c.wmu.Unlock()
		if release != nil {
			release()
		}
		return nil
	}
	return c.Conn.Close()
}

// Read is go-rtmp's way in: every byte passes the guard, and a peer that goes silent (except
// a player, which has nothing to say) runs into the read deadline.
func (c *conn) Read(p []byte) (int, error) {
	if c.detached.Load() {
		return 0, errDetached
	}
	if c.readIdle > 0 {
		if now := time.Now(); now.Sub(c.readSetAt) > time.Second {
			c.readSetAt = now
			_ = c.Conn.SetReadDeadline(now.Add(c.readIdle))
		}
	}
	n, err := c.Conn.Read(p)
	c.in.Add(uint64(n))
	if n > 0 && c.guard != nil {
		if gerr := c.guard.feed(p[:n]); gerr != nil {
			c.onViolation(gerr)
			_ = c.Conn.Close()
			return 0, gerr
		}
	}
	return n, err
}

// quiet stops the read deadline: a player sends nothing for long stretches.
func (c *conn) quiet() {
	c.readIdle = 0
	_ = c.Conn.SetReadDeadline(time.Time{})
}

// Write is go-rtmp's way out.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.extendDeadline()
	return c.Conn.Write(p)
}

// writeBuffers writes chunks of our own in one vectored write, between go-rtmp's.
func (c *conn) writeBuffers(b *net.Buffers) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.extendDeadline()
	var w io.Writer = c.Conn
	if c.tcp != nil {
		w = c.tcp // writev: a net.Conn wrapper would turn it into a write per buffer
	}
	_, err := b.WriteTo(w)
	return err
}

// extendDeadline moves the write deadline at most once a second: a peer that takes no data
// for writeTimeout is cut off, without a timer update on every write. The caller holds wmu.
func (c *conn) extendDeadline() {
	if c.writeTimeout <= 0 {
		return
	}
	if now := time.Now(); now.Sub(c.deadlineAt) > time.Second {
		c.deadlineAt = now
		_ = c.Conn.SetWriteDeadline(now.Add(c.writeTimeout))
	}
}

// listener keeps go-rtmp's accept loop, which retries at once on any error, from spinning
// when accepting fails (out of file descriptors, say): each failure waits a growing delay.
type listener struct {
	net.Listener
	closed chan struct{}
	delay  time.Duration // only touched by the one accepting goroutine
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.delay = 0
		return c, nil
	}
	l.delay = min(max(2*l.delay, 5*time.Millisecond), time.Second)
	select {
	case <-l.closed:
	case <-time.After(l.delay):
	}
	return nil, err
}
