package rtsp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/rtsp"
)

// Peers that send garbage, absurd headers or never read are cut off; a real viewer of a live
// stream keeps decoding through all of it.
func TestHostilePeersDoNotDisturbAViewer(t *testing.T) {
	cfg := rtsp.DefaultConfig()
	cfg.IdleTimeout = 8 * time.Second // longer than the viewer's window, whose session is idle
	cfg.RTPPort, cfg.RTCPPort = testenv.FreeUDPPair(t)
	srv := testenv.Start(t, testenv.Options{RTSP: &cfg})
	testenv.PublishDemo(t, srv, "live/calm")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const window = 5 * time.Second
	viewer := make(chan testenv.Decode, 1)
	go func() {
		viewer <- testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/calm"), window, "-rtsp_transport", "udp")
	}()

	for name, payload := range map[string][]byte{
		"garbage":        bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 1<<16),
		"1 MB header":    []byte("OPTIONS rtsp://x/live/calm RTSP/1.0\r\nCSeq: 1\r\nX: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"),
		"many headers":   []byte("OPTIONS rtsp://x/ RTSP/1.0\r\n" + strings.Repeat("X: y\r\n", 100000) + "\r\n"),
		"bad interleave": append([]byte("$\x00\xff\xff"), make([]byte, 1000)...),
		// gortsplib v2.2.2 spun a CPU for ever on this; v5 must refuse it
		"looping transport": []byte("SETUP rtsp://x/live/calm RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;=x\r\n\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.RTSPAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go func() { _, _ = c.Write(payload) }()
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			// The server closes: EOF, or a reset when it left our bytes unread.
			if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("connection not closed by the server: %v", err)
			}
		})
	}
	// A client that sends a request and then never reads: the server's writes are bounded by
	// its write timeout, not by the client.
	idle, err := net.Dial("tcp", srv.RTSPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_, _ = idle.Write([]byte("DESCRIBE " + srv.RTSPURL("live/calm") + " RTSP/1.0\r\nCSeq: 1\r\n\r\n"))

	d := <-viewer
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(window) {
		t.Fatalf("viewer: %d frames, exit %v, stderr:\n%s", d.Frames, d.Err, d.Stderr)
	}
}

func TestReadKeyGuardsRTSP(t *testing.T) {
	cfg := rtsp.DefaultConfig()
	cfg.RTPPort, cfg.RTCPPort = testenv.FreeUDPPair(t)
	cfg.Access = &access.Policy{ReadKey: "watch"}
	srv := testenv.Start(t, testenv.Options{RTSP: &cfg})
	testenv.PublishDemo(t, srv, "live/guarded")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/guarded"), time.Second, "-rtsp_transport", "tcp"); d.Err == nil {
		t.Errorf("played without the read key")
	}
	withKey := srv.RTSPURL("live/guarded?key=watch")
	withDigest := "rtsp://relaycast:watch@" + srv.RTSPAddr + "/live/guarded"
	for name, url := range map[string]string{"query": withKey, "digest": withDigest} {
		if d := testenv.FFmpegDecode(ctx, t, url, time.Second, "-rtsp_transport", "tcp"); d.Err != nil || d.Frames < 25 {
			t.Errorf("%s: %d frames, exit %v\n%s", name, d.Frames, d.Err, d.Stderr)
		}
	}
}
