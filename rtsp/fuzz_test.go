package rtsp_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// FuzzRequest feeds arbitrary requests to the parsers gortsplib runs on what clients send:
// the request and its Transport, Session, Range and Authorization headers. gortsplib v2.2.2
// looped for ever on "Transport: RTP/AVP;=x" (the seeds in testdata keep that case), and we
// kept a guard in front of it; v5 returns, bounds header and body sizes itself, and this
// target runs it bare, so a hang or crash here is the library's.
func FuzzRequest(f *testing.F) {
	f.Add([]byte("DESCRIBE rtsp://127.0.0.1:8554/live/demo RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n"))
	f.Add([]byte("SETUP rtsp://127.0.0.1:8554/live/demo/mediaUUID=x RTSP/1.0\r\nCSeq: 3\r\n" +
		"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"))
	f.Add([]byte("SETUP rtsp://h/a RTSP/1.0\r\nTransport: RTP/AVP;=x\r\nSession: =\r\n\r\n"))
	f.Add([]byte("OPTIONS * RTSP/1.0\r\nAuthorization: Digest username=,=\"IPCAM\"\r\n\r\n"))
	f.Add([]byte("SETUP rtsp://h/live/a RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;multicast;destination=224.1.0.1;port=8002-8003\r\n" +
		"Authorization: Digest username=\"relaycast\", realm=\"IPCAM\", nonce=\"0\", uri=\"rtsp://h/live/a\", response=\"0\"\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var req base.Request
		if err := req.Unmarshal(bufio.NewReader(bytes.NewReader(in))); err != nil {
			return
		}
		var tr headers.Transport
		_ = tr.Unmarshal(req.Header["Transport"])
		var auth headers.Authorization
		_ = auth.Unmarshal(req.Header["Authorization"])
		var sess headers.Session
		_ = sess.Unmarshal(req.Header["Session"])
		var rng headers.Range
		_ = rng.Unmarshal(req.Header["Range"])
	})
}

// FuzzServerConn sends arbitrary bytes to the running RTSP server; it must answer or hang up,
// and keep serving.
func FuzzServerConn(f *testing.F) {
	f.Add([]byte("OPTIONS rtsp://x/live/demo RTSP/1.0\r\nCSeq: 1\r\n\r\n"))
	f.Add([]byte("DESCRIBE rtsp://x/live/demo RTSP/1.0\r\nCSeq: 1\r\n\r\n"))
	f.Add([]byte("$\x00\x00\x04abcd"))
	srv := testenv.Start(f, testenv.Options{})
	testenv.PublishDemo(f, srv, "live/demo")
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", srv.RTSPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Write(in)
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
}
