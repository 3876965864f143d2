package connlimit

import (
	"net"
	"testing"
	"time"
)

func TestTotalLimitClosesTheExtraConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := &Limiter{Max: 2}
	l := lim.Listen(ln, "test")
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	first, second := <-accepted, <-accepted
	// The third is closed by the server: its read ends.
	_ = clients[2].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := clients[2].Read(make([]byte, 1)); err == nil {
		t.Fatal("third connection was not closed")
	}
	if lim.Open() != 2 {
		t.Fatalf("open = %d, want 2", lim.Open())
	}
	if r := lim.Refused(); r["server"] != 1 || r["per_address"] != 0 {
		t.Fatalf("refused %v, want one by the server limit", r)
	}
	first.Close()
	first.Close() // twice: counted once
	if lim.Open() != 1 {
		t.Fatalf("open after a close = %d, want 1", lim.Open())
	}
	second.Close()
}

func TestPerAddressLimitSparesLoopback(t *testing.T) {
	lim := &Limiter{PerIP: 1}
	remote := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 1}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	if _, ok := lim.admit(remote, "t"); !ok {
		t.Fatal("first remote connection refused")
	}
	if _, ok := lim.admit(remote, "t"); ok {
		t.Fatal("second remote connection admitted past the per-address limit")
	}
	for range 5 {
		if _, ok := lim.admit(local, "t"); !ok {
			t.Fatal("loopback limited per address")
		}
	}
}

// A connection admitted without a listener (SRT) counts and gives its place back once.
func TestAdmitCountsAndReleasesOnce(t *testing.T) {
	lim := &Limiter{Max: 1}
	a := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	release, ok := lim.Admit(a, "srt")
	if !ok || lim.Open() != 1 {
		t.Fatalf("first: ok %v, open %d", ok, lim.Open())
	}
	if _, ok := lim.Admit(a, "srt"); ok {
		t.Fatal("second admitted over Max 1")
	}
	release()
	release()
	if lim.Open() != 0 {
		t.Fatalf("open %d after release", lim.Open())
	}
	if lim.Refused()["server"] != 1 {
		t.Errorf("refused %v", lim.Refused())
	}
}
