// Package connlimit caps how many connections the server holds, in all and per client
// address, for every listener it wraps. A connection over a limit is closed at once.
package connlimit

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// Limiter counts connections across the listeners it wraps. Loopback clients are exempt
// from the per-address limit (load tests and local tools open many), not from the total.
type Limiter struct {
	Max   int // connections in all; 0: no limit
	PerIP int // connections per client address; 0: no limit
	Log   *slog.Logger

	mu       sync.Mutex
	total    int
	perIP    map[string]int
	loggedAt map[string]time.Time // last refusal logged per address, to log once per peer
	refused  map[string]uint64    // by limit: "server", "per_address"
}

// SetLimits changes the limits (a reload); connections held over a lowered limit stay.
func (lim *Limiter) SetLimits(max, perIP int) {
	lim.mu.Lock()
	lim.Max, lim.PerIP = max, perIP
	lim.mu.Unlock()
}

// Listen wraps l so that its connections count against the limits.
func (lim *Limiter) Listen(l net.Listener, name string) net.Listener {
	return &listener{Listener: l, lim: lim, name: name}
}

// Admit counts a connection of a protocol without a net.Listener (SRT over UDP) against the
// limits; release, to be called once when it ends, gives its place back.
func (lim *Limiter) Admit(a net.Addr, name string) (release func(), ok bool) {
	ip, ok := lim.admit(a, name)
	if !ok {
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(func() { lim.release(ip) }) }, true
}

// Open reports the connections held now.
func (lim *Limiter) Open() int {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	return lim.total
}

// Refused reports the connections refused so far, by the limit that refused them: "server"
// (Max) or "per_address" (PerIP).
func (lim *Limiter) Refused() map[string]uint64 {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	out := map[string]uint64{"server": 0, "per_address": 0}
	for k, n := range lim.refused {
		out[k] = n
	}
	return out
}

type listener struct {
	net.Listener
	lim  *Limiter
	name string
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ip, ok := l.lim.admit(c.RemoteAddr(), l.name); ok {
			return &conn{Conn: c, lim: l.lim, ip: ip}, nil
		}
		_ = c.Close()
	}
}

func (lim *Limiter) admit(a net.Addr, name string) (string, bool) {
	ip := hostOf(a)
	loopback := net.ParseIP(ip).IsLoopback()
	lim.mu.Lock()
	defer lim.mu.Unlock()
	reason, limit := "", ""
	switch {
	case lim.Max > 0 && lim.total >= lim.Max:
		reason, limit = "server connection limit reached", "server"
	case lim.PerIP > 0 && !loopback && lim.perIP[ip] >= lim.PerIP:
		reason, limit = "connection limit per address reached", "per_address"
	}
	if reason != "" {
		if lim.refused == nil {
			lim.refused = map[string]uint64{}
		}
		lim.refused[limit]++
		lim.logOnce(ip, name, reason)
		return "", false
	}
	lim.total++
	if lim.perIP == nil {
		lim.perIP = make(map[string]int)
	}
	lim.perIP[ip]++
	return ip, true
}

// logOnce logs a refusal at most once a minute per address. The caller holds mu.
func (lim *Limiter) logOnce(ip, name, reason string) {
	if lim.Log == nil {
		return
	}
	if lim.loggedAt == nil {
		lim.loggedAt = make(map[string]time.Time)
	}
	now := time.Now()
	if now.Sub(lim.loggedAt[ip]) < time.Minute {
		return
	}
	if len(lim.loggedAt) > 10000 { // forget old entries rather than grow without bound
		clear(lim.loggedAt)
	}
	lim.loggedAt[ip] = now
	lim.Log.Warn("connection refused", "listener", name, "remote", ip, "reason", reason,
		"max", lim.Max, "per_ip", lim.PerIP)
}

func (lim *Limiter) release(ip string) {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	lim.total--
	if lim.perIP[ip]--; lim.perIP[ip] <= 0 {
		delete(lim.perIP, ip)
	}
}

type conn struct {
	net.Conn
	lim  *Limiter
	ip   string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.lim.release(c.ip) })
	return err
}

// Unwrap gives servers that look for the TCP connection (buffer sizes) the real one.
func (c *conn) Unwrap() net.Conn { return c.Conn }

func hostOf(a net.Addr) string {
	switch t := a.(type) {
	case *net.TCPAddr:
		return t.IP.String()
	case *net.UDPAddr:
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
