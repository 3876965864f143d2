package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
)

// listener is what one server accepts from for its whole life: one or more ports (the plain
// one, the TLS one), each of which may move to another address, open or close while the
// server serves (a reload). The server never sees a change, and connections it holds are not
// touched. A TLS port hands out connections that do their handshake on first use.
type listener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup // the ports' accept goroutines

	mu    sync.Mutex
	ports map[string]*socket // by port name: rtmp, rtmps …
	first string             // the port Addr reports
}

type socket struct {
	ln  net.Listener
	tls *tls.Config
}

func newListener() *listener {
	return &listener{conns: make(chan net.Conn), closed: make(chan struct{}), ports: map[string]*socket{}}
}

// set makes port name listen on addr (with TLS when tc is not nil): a new socket first, so
// that no connection finds no one there, then the old one closes. An empty addr closes the
// port. On error nothing changes.
func (l *listener) set(name, addr string, tc *tls.Config) error {
	var ln net.Listener
	if addr != "" {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
		if ln != nil {
			_ = ln.Close()
		}
		return net.ErrClosed
	default:
	}
	old := l.ports[name]
	if ln == nil {
		delete(l.ports, name)
	} else {
		p := &socket{ln: ln, tls: tc}
		l.ports[name] = p
		l.accept(p)
		if l.first == "" {
			l.first = name
		}
	}
	if old != nil {
		return old.ln.Close()
	}
	return nil
}

// accept feeds p's connections to Accept until p's socket closes.
func (l *listener) accept(p *socket) {
	l.wg.Go(func() {
		backoff := 5 * time.Millisecond
		for {
			c, err := p.ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil { // out of file descriptors, say: wait as net/http does
				select {
				case <-time.After(backoff):
				case <-l.closed:
					return
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			backoff = 5 * time.Millisecond
			if p.tls != nil {
				c = tls.Server(c, p.tls)
			}
			select {
			case l.conns <- c:
			case <-l.closed:
				_ = c.Close()
				return
			}
		}
	})
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops listening on every port; Accept returns net.ErrClosed from then on.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		l.mu.Lock()
		close(l.closed)
		for _, p := range l.ports {
			err = errors.Join(err, p.ln.Close())
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return err
}

// Addr is the first port's address.
func (l *listener) Addr() net.Addr { return l.addrOf(l.first) }

// addrOf is port name's address, or nil when it is closed.
func (l *listener) addrOf(name string) net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.ports[name]; p != nil {
		return p.ln.Addr()
	}
	return nil
}

// probeUDP refuses an SRT port another process holds. gosrt binds with SO_REUSEADDR, with
// which Linux lets a second process share a UDP port and splits the callers between the two;
// a socket bound without it fails on a port anyone holds. The probe closes at once: the real
// socket opens next.
func probeUDP(cfg conf.Config) error {
	if _, port, err := net.SplitHostPort(cfg.SRT); cfg.SRT == "" || err == nil && port == "0" {
		return nil
	}
	c, err := net.ListenPacket("udp", cfg.SRT)
	if err != nil {
		return fmt.Errorf("srt listen %s (UDP): %w", cfg.SRT, err)
	}
	return c.Close()
}
