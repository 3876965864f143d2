package rtsp

import (
	"errors"
	"testing"
)

func TestRequestGuard(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"describe", "DESCRIBE rtsp://h/live/a RTSP/1.0\r\nCSeq: 1\r\n\r\n", true},
		{"setup tcp", "SETUP rtsp://h/live/a RTSP/1.0\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n", true},
		{"digest", "DESCRIBE rtsp://h/a RTSP/1.0\r\nAuthorization: Digest username=\"relaycast\", realm=\"IPCAM\", nonce=\"1\"\r\n\r\n", true},
		{"body then request", "ANNOUNCE rtsp://h/a RTSP/1.0\r\nContent-Length: 5\r\n\r\n=;=;=OPTIONS * RTSP/1.0\r\n\r\n", true},
		{"interleaved frame", "$\x01\x00\x03=;=OPTIONS * RTSP/1.0\r\nSession: 1;timeout=60\r\n\r\n", true},
		{"transport element starts with =", "SETUP rtsp://h/a RTSP/1.0\r\nTransport: RTP/AVP;=x\r\n\r\n", false},
		{"= after a quoted value", "SETUP rtsp://h/a RTSP/1.0\r\nTransport: a=\"b\"=c\r\n\r\n", false},
		{"digest element starts with =", "OPTIONS * RTSP/1.0\r\nAuthorization: Digest username=,=\"IPCAM\"\r\n\r\n", false},
		{"session", "PLAY rtsp://h/a RTSP/1.0\r\nSession: =\r\n\r\n", false},
		{"huge content length", "ANNOUNCE rtsp://h/a RTSP/1.0\r\nContent-Length: 99999999999\r\n\r\n", false},
	} {
		g := &requestGuard{}
		err := g.feed([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errBadRequest) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func FuzzRequestGuard(f *testing.F) {
	f.Add([]byte("SETUP rtsp://h/a RTSP/1.0\r\nTransport: RTP/AVP;unicast;client_port=8000-8001\r\n\r\n"))
	f.Add([]byte("$\x00\x00\x04abcdPLAY rtsp://h/a RTSP/1.0\r\nRange: npt=0-\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = (&requestGuard{}).feed(in)
	})
}
