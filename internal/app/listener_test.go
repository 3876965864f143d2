package app

import (
	"io"
	"net"
	"testing"
)

// A moved listener takes connections on its new address only, and a connection accepted
// before the move goes on.
func TestMovableListenerMovesWithoutDroppingConnections(t *testing.T) {
	ln, err := listenMovable("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echo := func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}
	go echo()
	roundTrip := func(c net.Conn) {
		t.Helper()
		if _, err := c.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("echo: %q %v", buf, err)
		}
	}
	oldAddr := ln.Addr().String()
	before, err := net.Dial("tcp", oldAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	roundTrip(before)
	if err := ln.move("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if ln.Addr().String() == oldAddr {
		t.Fatal("the address did not change")
	}
	roundTrip(before)
	after, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	roundTrip(after)
	if c, err := net.Dial("tcp", oldAddr); err == nil {
		c.Close()
		t.Error("the old address still takes connections")
	}
	if err := ln.move("256.0.0.1:1"); err == nil {
		t.Error("a move to a bad address succeeded")
	}
	roundTrip(after)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("Accept after Close succeeded")
	}
}
