package rtmp

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp/message"

	"github.com/relaycast/relaycast/relay"
)

// pipeListener hands the server the far ends of in-memory connections.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// FuzzServerConn drives the real server (go-rtmp session, guard, handler, publish and play)
// with arbitrary bytes from a peer, as a network client would send them.
func FuzzServerConn(f *testing.F) {
	f.Add(guardSeed)
	f.Add(clientBytes(f, command(100), video(300), setChunk(4096), video(200)))
	f.Add(append([]byte{3}, make([]byte, 3072)...))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))

	g := relay.NewRegistry(relay.DefaultConfig())
	defer g.Close()
	cfg := DefaultConfig()
	cfg.HandshakeTimeout, cfg.ReadTimeout, cfg.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	srv := New(cfg, g, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	defer func() {
		srv.Close()
		<-done
	}()

	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		l.conns <- server
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, client); close(drained) }()
		_ = client.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = client.Write(in)
		client.Close()
		select {
		case <-drained:
		case <-time.After(5 * time.Second):
			t.Fatal("server still writing 5 s after the peer left")
		}
	})
}

// FuzzAMF0 decodes arbitrary command bodies as go-rtmp does, as far as the guard lets them
// through. (Unguarded, go-amf0 allocates a strict array's declared length: "\x0a\x7f\xff\xff\xff"
// asks for 32 GiB and kills the process.)
func FuzzAMF0(f *testing.F) {
	f.Add(statusPlayNotFound.with("live/x is not live").command())
	f.Add([]byte{0x03, 0, 1, 'a', 0x03, 0, 1, 'b', 0x02, 0, 1, 'c', 0, 0, 9})
	f.Add([]byte{0x08, 0, 0, 0, 1, 0, 1, 'k', 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9})
	f.Add(amfValues(f, "seek", float64(0), nil, float64(20000)))
	f.Add(amfValues(f, "pause", float64(0), nil, true, float64(1200)))
	f.Fuzz(func(t *testing.T, in []byte) {
		args := commandArgs(in) // takes anything; below, agrees with go-amf0 on checked input
		if len(in) > int(DefaultLimits().MaxOtherMessage) || checkAMF0(in) != nil {
			return
		}
		dec := message.NewAMFDecoder(bytes.NewReader(in), message.EncodingTypeAMF0)
		for i := range 64 {
			var v interface{}
			if dec.Decode(&v) != nil {
				return
			}
			if i < len(args) && fmt.Sprint(args[i]) != fmt.Sprint(v) {
				t.Fatalf("value %d: commandArgs %#v, go-amf0 %#v", i, args[i], v)
			}
		}
	})
}

func amfValues(f *testing.F, values ...any) []byte {
	var b bytes.Buffer
	enc := message.NewAMFEncoder(&b, message.EncodingTypeAMF0)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			f.Fatal(err)
		}
	}
	return b.Bytes()
}
