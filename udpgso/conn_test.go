package udpgso

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

func pair(t *testing.T) (*Conn, *net.UDPConn) {
	t.Helper()
	s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); r.Close() })
	return New(s), r
}

func packet(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// Packets written while corked arrive when uncorked, each whole and in order, and runs of
// one size leave in one send.
func TestCorkedWritesArriveInOrder(t *testing.T) {
	c, r := pair(t)
	if !c.GSO() {
		t.Log("no UDP GSO here: the packets go one at a time")
	}
	to := r.LocalAddr().(*net.UDPAddr).AddrPort()
	sizes := []int{1228, 1228, 1228, 500, 1228, 1228, 300, 90, 90}
	k := c.Register(to)
	k.Cork()
	for i, n := range sizes {
		if _, err := c.WriteToAddrPort(packet(n, byte(i)), to); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(k.sizes); got != len(sizes) {
		t.Fatalf("%d packets held, want %d", got, len(sizes))
	}
	if err := k.Uncork(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	for i, n := range sizes {
		r.SetReadDeadline(time.Now().Add(2 * time.Second))
		got, _, err := r.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(buf[:got], packet(n, byte(i))) {
			t.Fatalf("packet %d: %d bytes of %d, want %d of %d", i, got, buf[0], n, i)
		}
	}
	if err := k.Release(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.corks.Load(to); ok {
		t.Fatal("the released cork is still registered")
	}
}

// Two holders of one address share its cork: what is held goes at either's uncork, and
// holding goes on while the other corks.
func TestSharedCorkSendsAtEachUncork(t *testing.T) {
	c, r := pair(t)
	to := r.LocalAddr().(*net.UDPAddr).AddrPort()
	a, b := c.Register(to), c.Register(netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port()))
	if a != b {
		t.Fatal("an IPv4-mapped address got a cork of its own")
	}
	a.Cork()
	b.Cork()
	c.WriteToAddrPort(packet(10, 1), to)
	a.Uncork()
	if len(a.sizes) != 0 {
		t.Fatal("an uncork left packets held for another holder's")
	}
	c.WriteToAddrPort(packet(10, 2), to)
	if len(a.sizes) != 1 {
		t.Fatal("not held while the other holder corks")
	}
	b.Uncork()
	for i := range 2 {
		r.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := r.ReadFromUDPAddrPort(make([]byte, 100)); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	a.Release()
	if _, ok := c.corks.Load(to); !ok {
		t.Fatal("released while registered twice")
	}
	b.Release()
}

// An uncorked address is written at once; corking holds no more than maxSegments packets.
func TestWritesGoAtOnceWhenNotCorked(t *testing.T) {
	c, r := pair(t)
	to := r.LocalAddr().(*net.UDPAddr).AddrPort()
	k := c.Register(to)
	defer k.Release()
	c.WriteToAddrPort(packet(10, 1), to)
	if len(k.sizes) != 0 {
		t.Fatal("held while not corked")
	}
	k.Cork()
	for i := 0; i < maxSegments+3; i++ {
		c.WriteToAddrPort(packet(1000, byte(i)), to)
	}
	if len(k.sizes) != 3 {
		t.Fatalf("%d held, want the 3 past the first %d", len(k.sizes), maxSegments)
	}
	k.Uncork()
	buf := make([]byte, 2000)
	r.SetReadDeadline(time.Now().Add(2 * time.Second))
	for i := 0; i < maxSegments+4; i++ {
		if _, _, err := r.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
}

func BenchmarkCorkedWrite(b *testing.B) {
	s, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	r, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer s.Close()
	defer r.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := r.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	c := New(s)
	to := r.LocalAddr().(*net.UDPAddr).AddrPort()
	k := c.Register(to)
	pkt := packet(1228, 1)
	b.ReportAllocs()
	for b.Loop() {
		k.Cork()
		for range 4 {
			c.WriteToAddrPort(pkt, to)
		}
		k.Uncork()
	}
}
