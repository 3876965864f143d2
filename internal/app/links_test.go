package app_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/internal/app"
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// A link the server cannot make (a scheme it does not pull or push, no host) is refused at
// start, and by a reload, with the field that asks for it.
func TestALinkThatCannotWorkIsRefusedNamingTheField(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	for _, tc := range []struct {
		field string
		set   func(*conf.Config)
	}{
		{"config paths: live/a: source: ftp://", func(c *conf.Config) { c.Paths = map[string]conf.Path{"live/a": {Source: "ftp://127.0.0.1/x"}} }},
		{"config paths: live/a: push[1]: ", func(c *conf.Config) {
			c.Paths = map[string]conf.Path{"live/a": {Push: []string{"rtmp://127.0.0.1/live/b", "rtmp:///live/b"}}}
		}},
		{"config origin[0] srt://", func(c *conf.Config) { c.Origin = conf.List{"srt://127.0.0.1:8890"} }},
	} {
		cfg := conf.Default()
		cfg.RTMP, cfg.RTSP, cfg.HTTP, cfg.SRT = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		cfg.WebRTC = "127.0.0.1:0"
		cfg.Demo, cfg.MediaDir = false, t.TempDir()
		cfg.RTSPRTPPort, cfg.RTSPRTCPPort = testenv.FreeUDPPair(t)
		tc.set(&cfg)
		a, err := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		if err == nil {
			_ = a.Close()
			t.Errorf("started with %s", tc.field)
		} else if !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("start: error %q, want it to begin %q", err, tc.field)
		}
		reload := srv.Config()
		tc.set(&reload)
		if err := srv.Reload(reload); err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("reload: error %v, want it to begin %q", err, tc.field)
		}
	}
}
