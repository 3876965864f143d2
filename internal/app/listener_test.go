package app

import (
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/relaycast/relaycast/internal/testkit/testcert"
)

func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { _, _ = io.Copy(c, c); c.Close() }()
	}
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("echo: %q %v", buf, err)
	}
}

// A moved port takes connections on its new address only, and a connection accepted before
// the move goes on.
func TestListenerMovesAPortWithoutDroppingConnections(t *testing.T) {
	ln := newListener()
	if err := ln.set("rtmp", "127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go echo(ln)
	oldAddr := ln.Addr().String()
	before, err := net.Dial("tcp", oldAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	roundTrip(t, before)
	if err := ln.set("rtmp", "127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	if ln.Addr().String() == oldAddr {
		t.Fatal("the address did not change")
	}
	roundTrip(t, before)
	after, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	roundTrip(t, after)
	if c, err := net.Dial("tcp", oldAddr); err == nil {
		c.Close()
		t.Error("the old address still takes connections")
	}
	if err := ln.set("rtmp", "256.0.0.1:1", nil); err == nil {
		t.Error("a move to a bad address succeeded")
	}
	roundTrip(t, after)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("Accept after Close succeeded")
	}
}

// A TLS port beside a plain one: both reach the same Accept, the TLS one after a handshake;
// closing it leaves the plain one.
func TestListenerServesATLSPortBesideAPlainOne(t *testing.T) {
	cert := testcert.New(t)
	ln := newListener()
	defer ln.Close()
	if err := ln.set("http", "127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	if err := ln.set("https", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert.Pair}}); err != nil {
		t.Fatal(err)
	}
	go echo(ln)
	c, err := tls.Dial("tcp", ln.addrOf("https").String(), &tls.Config{RootCAs: cert.Pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)
	c.Close()
	if err := ln.set("https", "", nil); err != nil {
		t.Fatal(err)
	}
	if ln.addrOf("https") != nil {
		t.Error("a closed port has an address")
	}
	plain, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	roundTrip(t, plain)
}
