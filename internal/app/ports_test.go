package app_test

import (
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/internal/app"
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// A second server started on a port the first one holds is refused at start with the
// field's name, for every listener, UDP ones too (gosrt binds with SO_REUSEADDR, with which
// two processes would silently share the SRT port).
func TestASecondServerOnTheSamePortsIsRefusedNamingTheField(t *testing.T) {
	first := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.Metrics = "127.0.0.1:0" }})
	held := first.Config()
	addrs := first.Addrs()
	for _, tc := range []struct {
		field string
		set   func(*conf.Config)
	}{
		{"rtmp", func(c *conf.Config) { c.RTMP = addrs.RTMP }},
		{"rtsp", func(c *conf.Config) { c.RTSP = addrs.RTSP }},
		{"http", func(c *conf.Config) { c.HTTP = addrs.HTTP }},
		{"metrics", func(c *conf.Config) { c.Metrics = addrs.Metrics }},
		{"srt", func(c *conf.Config) { c.SRT = addrs.SRT }},
		{"webrtc", func(c *conf.Config) { c.WebRTC = addrs.WebRTC }},
		{"rtsp_rtp_port", func(c *conf.Config) { c.RTSPRTPPort, c.RTSPRTCPPort = held.RTSPRTPPort, held.RTSPRTPPort+1 }},
		{"rtsp_rtcp_port", func(c *conf.Config) { // a free RTP port whose RTCP port another socket holds
			rtcp, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(c.RTSPRTCPPort))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rtcp.Close() })
		}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			cfg := conf.Default()
			cfg.RTMP, cfg.RTSP, cfg.HTTP, cfg.SRT = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			cfg.WebRTC = "127.0.0.1:0"
			cfg.Demo, cfg.MediaDir = false, t.TempDir()
			cfg.RTSPRTPPort, cfg.RTSPRTCPPort = testenv.FreeUDPPair(t)
			tc.set(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			a, err := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			if err == nil {
				_ = a.Close()
				t.Fatalf("a second server on %s's port started", tc.field)
			}
			if !strings.HasPrefix(err.Error(), tc.field+" listen ") || !strings.Contains(err.Error(), "address already in use") {
				t.Errorf("error %q does not name %s and the port in use", err, tc.field)
			}
		})
	}
}
