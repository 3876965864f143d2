package app

import (
	"errors"
	"net"
	"sync"
	"time"
)

// movableListener is a listening port whose address may change while a server serves it (a
// reload): Accept hands out the connections of whichever socket is current. The server never
// sees the change, and connections it holds are not touched.
type movableListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup // the accept goroutines

	mu  sync.Mutex
	cur net.Listener
}

func listenMovable(addr string) (*movableListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	m := &movableListener{conns: make(chan net.Conn), closed: make(chan struct{}), cur: ln}
	m.accept(ln)
	return m, nil
}

// accept feeds ln's connections to Accept until ln is closed.
func (m *movableListener) accept(ln net.Listener) {
	m.wg.Go(func() {
		backoff := 5 * time.Millisecond
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil { // out of file descriptors, say: wait as net/http does
				select {
				case <-time.After(backoff):
				case <-m.closed:
					return
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			backoff = 5 * time.Millisecond
			select {
			case m.conns <- c:
			case <-m.closed:
				_ = c.Close()
				return
			}
		}
	})
}

// move listens on addr instead: the new socket first, so no connection finds no one there,
// then the old one closes. On error nothing changes.
func (m *movableListener) move(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	m.mu.Lock()
	select {
	case <-m.closed:
		m.mu.Unlock()
		return ln.Close()
	default:
	}
	old := m.cur
	m.cur = ln
	m.accept(ln)
	m.mu.Unlock()
	return old.Close()
}

func (m *movableListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

// Close stops listening; Accept returns net.ErrClosed from then on.
func (m *movableListener) Close() error {
	var err error
	m.once.Do(func() {
		m.mu.Lock()
		close(m.closed)
		err = m.cur.Close()
		m.mu.Unlock()
		m.wg.Wait()
	})
	return err
}

func (m *movableListener) Addr() net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur.Addr()
}
