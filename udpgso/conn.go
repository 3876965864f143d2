// Package udpgso is a UDP socket whose writes to one address can be held (corked) and sent
// together: on Linux, packets of one size to one address leave in one system call with UDP
// generic segmentation offload (GSO), which halves the cost of each packet on loopback and
// leaves the cutting to the network card where it can. A WebRTC viewer's picture is several
// packets of the largest size and a shorter last one, which is what GSO takes.
package udpgso

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// maxSegments bounds the packets of one GSO send (the kernel's UDP_MAX_SEGMENTS is 64
// before Linux 6.9), and maxBytes its size (one IP datagram).
const (
	maxSegments = 64
	maxBytes    = 65000
)

// Conn is a UDP socket whose writes to a corked address wait for Uncork. It has the
// netip.AddrPort methods pion's ICE takes for its allocation-free path.
type Conn struct {
	*net.UDPConn
	gso   atomic.Bool
	mu    sync.Mutex // for corks' changes
	corks sync.Map   // netip.AddrPort → *Cork
}

// New wraps c; GSO is used when the system takes it.
func New(c *net.UDPConn) *Conn {
	conn := &Conn{UDPConn: c}
	conn.gso.Store(gsoSupported(c))
	return conn
}

// GSO tells whether sends are segmented by the system.
func (c *Conn) GSO() bool { return c.gso.Load() }

// WriteToAddrPort sends b to addr, or keeps a copy when addr is corked.
func (c *Conn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if k, ok := c.corks.Load(unmap(addr)); ok && k.(*Cork).hold(b) {
		return len(b), nil
	}
	return c.WriteToUDPAddrPort(b, addr)
}

// WriteTo is WriteToAddrPort for a net.Addr.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if u, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(b, u.AddrPort())
	}
	return c.UDPConn.WriteTo(b, addr)
}

// ReadFromAddrPort reads one packet.
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

// Cork is an address whose writes can be held. Several holders of one address (players
// behind one socket) share it: writes are held while any of them corks, and each uncork
// sends what is held, so no holder's packets wait for another's frame.
type Cork struct {
	conn  *Conn
	addr  netip.AddrPort
	refs  int // registrations, under conn.mu
	mu    sync.Mutex
	depth int      // holders corking now
	buf   []byte   // the held packets, one after another
	sizes []uint16 // their lengths
}

// Register returns addr's cork, the same for every holder of addr; Release it when done.
func (c *Conn) Register(addr netip.AddrPort) *Cork {
	addr = unmap(addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.corks.Load(addr); ok {
		k.(*Cork).refs++
		return k.(*Cork)
	}
	k := &Cork{conn: c, addr: addr, refs: 1}
	c.corks.Store(addr, k)
	return k
}

// Release ends one registration; the last sends what it holds.
func (k *Cork) Release() error {
	c := k.conn
	c.mu.Lock()
	k.refs--
	last := k.refs == 0
	if last {
		c.corks.Delete(k.addr)
	}
	c.mu.Unlock()
	if !last {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.depth = 0
	return k.flush()
}

// Cork holds the address's writes until the matching Uncork.
func (k *Cork) Cork() {
	k.mu.Lock()
	k.depth++
	k.mu.Unlock()
}

// Uncork sends the writes held (this holder's since Cork, and any other's so far).
func (k *Cork) Uncork() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.depth > 0 {
		k.depth--
	}
	return k.flush()
}

// hold keeps a copy of b when the address is corked; b is the caller's again on return.
func (k *Cork) hold(b []byte) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.depth == 0 || len(b) > maxBytes {
		return false
	}
	if len(k.sizes) == maxSegments {
		if err := k.flush(); err != nil {
			return false // written alone, so the caller sees the error
		}
	}
	k.buf = append(k.buf, b...)
	k.sizes = append(k.sizes, uint16(len(b)))
	return true
}

// flush sends the held packets: each run of one size (and a shorter last) in one system
// call where GSO is on, one at a time otherwise.
func (k *Cork) flush() error {
	defer func() { k.buf, k.sizes = k.buf[:0], k.sizes[:0] }()
	off, gso := 0, k.conn.gso.Load()
	for i := 0; i < len(k.sizes); {
		seg := int(k.sizes[i])
		n, size := 1, seg
		for gso && i+n < len(k.sizes) && n < maxSegments && size+int(k.sizes[i+n]) <= maxBytes &&
			int(k.sizes[i+n-1]) == seg && int(k.sizes[i+n]) <= seg {
			size += int(k.sizes[i+n])
			n++
		}
		if err := k.conn.send(k.buf[off:off+size], seg, n, k.addr); err != nil {
			return fmt.Errorf("udp send to %s: %w", k.addr, err)
		}
		off += size
		i += n
	}
	return nil
}

// send writes b, n packets of seg bytes (the last may be shorter), to addr.
func (c *Conn) send(b []byte, seg, n int, addr netip.AddrPort) error {
	if n == 1 {
		_, err := c.WriteToUDPAddrPort(b, addr)
		return err
	}
	err := c.sendSegments(b, seg, addr)
	if !segmentsRefused(err) {
		return err
	}
	// The path does not segment (a device without checksum offload): send them one at a time
	// from now on.
	c.gso.Store(false)
	for ; len(b) > 0; b = b[min(seg, len(b)):] {
		if _, err := c.WriteToUDPAddrPort(b[:min(seg, len(b))], addr); err != nil {
			return err
		}
	}
	return nil
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
