package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/link"
	"github.com/relaycast/relaycast/vod"
	"github.com/relaycast/relaycast/web"
)

func policyOf(cfg conf.Config) *access.Policy {
	p := &access.Policy{PublishKey: cfg.PublishKey, PathKeys: cfg.PublishKeys, ReadKey: cfg.ReadKey, OnPublish: cfg.OnPublish,
		URLKey: cfg.URLSigningKey}
	for name, u := range cfg.Users {
		p.Users = append(p.Users, access.User{Name: name, Password: u.Password, Publish: u.Publish, Read: u.Read})
	}
	if cfg.JWTKey != "" || cfg.JWTJWKS != "" {
		p.JWT = access.NewJWT(cfg.JWTKey, cfg.JWTJWKS)
	}
	return p
}

// Reload applies cfg to the running server without dropping a viewer or a publisher: keys,
// limits, recording, the demo and playlists, pull sources, origins and push relays, the control API key, the log level and the
// listening addresses (a changed address moves only that port). What a running server cannot
// change is logged and keeps its old value. On an error nothing changes.
func (a *App) Reload(cfg conf.Config) error {
	if err := validate(cfg); err != nil {
		return err
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	old := a.Config()
	if kept := keepRunning(old, &cfg); len(kept) > 0 {
		a.log.Warn("configuration: these settings change at the next start", "keys", kept)
	}
	if cfg.TLSCert != "" {
		if cert, key := a.certs.files(); cert != cfg.TLSCert || key != cfg.TLSKey {
			if err := a.certs.load(cfg.TLSCert, cfg.TLSKey); err != nil {
				return err
			}
			defer a.followCerts()
		}
	}
	if err := a.movePorts(old, cfg); err != nil {
		return err
	}
	a.policy.Set(policyOf(cfg))
	a.limiter.SetLimits(cfg.MaxConns, cfg.MaxConnsPerIP)
	a.Relays.SetLimits(cfg.MaxStreams, cfg.Grace)
	a.Record.SetEnabled(recordedOrDVR(cfg))
	a.Web.SetAPIKey(web.APIKey{Key: cfg.APIKey, Loopback: cfg.APIKeyLoopback})
	a.SRT.SetPassphrase(cfg.SRTPassphrase)
	if a.LogLevel != nil {
		level, _ := conf.ParseLevel(cfg.LogLevel) // validated
		a.LogLevel.Set(level)
	}
	a.cfgMu.Lock()
	a.cfg = cfg
	a.cfgMu.Unlock()
	a.applySources(cfg)
	a.Links.Set(links(cfg))
	a.Ladder.Set(ladderConfig(cfg))
	a.log.Info("configuration reloaded", "changed", conf.Changed(old, cfg))
	return nil
}

// keepRunning puts back in cfg the settings a running server cannot change, and names them.
func keepRunning(old conf.Config, cfg *conf.Config) []string {
	var kept []string
	keep := func(name string, changed bool, restore func()) {
		if changed {
			kept = append(kept, name)
			restore()
		}
	}
	keep("rtsp_rtp_port", cfg.RTSPRTPPort != old.RTSPRTPPort, func() { cfg.RTSPRTPPort = old.RTSPRTPPort })
	keep("rtsp_rtcp_port", cfg.RTSPRTCPPort != old.RTSPRTCPPort, func() { cfg.RTSPRTCPPort = old.RTSPRTCPPort })
	keep("rtsp_multicast", cfg.RTSPMulticast != old.RTSPMulticast, func() { cfg.RTSPMulticast = old.RTSPMulticast })
	keep("media_dir", cfg.MediaDir != old.MediaDir, func() { cfg.MediaDir = old.MediaDir })
	keep("max_upload", cfg.MaxUpload != old.MaxUpload, func() { cfg.MaxUpload = old.MaxUpload })
	keep("max_lag", cfg.MaxLag != old.MaxLag, func() { cfg.MaxLag = old.MaxLag })
	keep("rtmp_nodelay", cfg.RTMPNoDelay != old.RTMPNoDelay, func() { cfg.RTMPNoDelay = old.RTMPNoDelay })
	keep("pprof", cfg.Pprof != old.Pprof, func() { cfg.Pprof = old.Pprof })
	keep("srt", cfg.SRT != old.SRT, func() { cfg.SRT = old.SRT }) // moving it would drop its callers: gosrt's connections share its socket
	keep("srt_latency", cfg.SRTLatency != old.SRTLatency, func() { cfg.SRTLatency = old.SRTLatency })
	keep("pyroscope_url", cfg.PyroscopeURL != old.PyroscopeURL || cfg.PyroscopeApp != old.PyroscopeApp || cfg.PyroscopeTags != old.PyroscopeTags,
		func() {
			cfg.PyroscopeURL, cfg.PyroscopeApp, cfg.PyroscopeTags = old.PyroscopeURL, old.PyroscopeApp, old.PyroscopeTags
		})
	keep("record_segment", cfg.RecordSegment != old.RecordSegment, func() { cfg.RecordSegment = old.RecordSegment })
	keep("record_delete_after", cfg.RecordDeleteAfter != old.RecordDeleteAfter, func() { cfg.RecordDeleteAfter = old.RecordDeleteAfter })
	keep("record_max_bytes", cfg.RecordMaxBytes != old.RecordMaxBytes, func() { cfg.RecordMaxBytes = old.RecordMaxBytes })
	keep("metrics", (cfg.Metrics == "") != (old.Metrics == ""), func() { cfg.Metrics = old.Metrics })
	for _, l := range []struct {
		name     string
		old, now *conf.List
	}{{"webrtc_hosts", &old.WebRTCHosts, &cfg.WebRTCHosts}, {"webrtc_ice_servers", &old.WebRTCICEServers, &cfg.WebRTCICEServers},
		{"allow_origin", &old.AllowOrigin, &cfg.AllowOrigin}, {"api_allow_origin", &old.APIAllowOrigin, &cfg.APIAllowOrigin},
		{"webhook_urls", &old.WebhookURLs, &cfg.WebhookURLs}} {
		keep(l.name, !slices.Equal(*l.old, *l.now), func() { *l.now = *l.old })
	}
	keep("hls_sessions", cfg.HLSSessions != old.HLSSessions, func() { cfg.HLSSessions = old.HLSSessions })
	keep("webhook_secret", cfg.WebhookSecret != old.WebhookSecret, func() { cfg.WebhookSecret = old.WebhookSecret })
	return kept
}

// movePorts opens, moves and closes the ports whose addresses changed; if one cannot be had,
// those already changed go back and the error says which.
func (a *App) movePorts(old, cfg conf.Config) error {
	from, to := a.lns.ports(old), a.lns.ports(cfg)
	var moved []portSpec
	for i, p := range to {
		if p.addr == from[i].addr {
			continue
		}
		if err := a.setPort(p); err != nil {
			for _, back := range slices.Backward(moved) {
				_ = a.setPort(back)
			}
			return fmt.Errorf("config %s: listen %s: %w", p.name, p.addr, err)
		}
		a.log.Info("listener moved", "listener", p.name, "from", from[i].addr, "to", p.addr)
		moved = append(moved, from[i])
	}
	return nil
}

func (a *App) setPort(p portSpec) error {
	var tc *tls.Config
	if p.tls {
		tc = a.certs.config
	}
	return p.ln.set(p.name, p.addr, tc)
}

// ReloadOn reloads the configuration with load whenever the configuration file changes (when
// there is one) or a signal arrives on hup, from the moment it returns until stop is called.
// A configuration that does not load or apply is logged with the field it names, and the
// running one stays.
func (a *App) ReloadOn(hup <-chan os.Signal, load func() (conf.Config, error)) (stop func(), err error) {
	var fw *conf.FileWatch
	if file := a.Config().File; file != "" {
		if fw, err = conf.WatchFile(file); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	reload := func(why string) {
		cfg, err := load()
		if err == nil {
			err = a.Reload(cfg)
		}
		if err != nil {
			a.log.Error("configuration not reloaded: the running one stays", "why", why, "err", err)
		}
	}
	if fw != nil {
		wg.Go(func() {
			if err := fw.Run(ctx, func() { reload("file changed") }); err != nil {
				a.log.Error("configuration file no longer watched", "err", err)
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload("SIGHUP")
			}
		}
	})
	return func() { cancel(); wg.Wait() }, nil
}

// sources are the app's own publishers, the demo and the playlists, each under a context of
// its own so that a reload starts, stops or replaces one without touching the others.
type sources struct {
	mu      sync.Mutex
	ctx     context.Context // ends at stop
	cancel  context.CancelFunc
	running map[string]*source // by path
}

type source struct {
	what   string // what it plays; a change replaces it
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *sources) init() {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.running = map[string]*source{}
}

// stop ends every source; none starts after it.
func (s *sources) stop() {
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
}

// applySources runs what cfg asks for: the demo at live/demo and each path's playlist. One
// whose files changed is stopped and started again, and its viewers wait for the new one
// within the grace window.
func (a *App) applySources(cfg conf.Config) {
	want := map[string]*vod.Playlist{}
	if cfg.Demo {
		demo, err := Demo("live/demo", a.log)
		if err != nil {
			a.log.Error("demo not started", "err", err)
		} else {
			want["live/demo"] = demo
		}
	}
	for path, p := range cfg.Paths {
		if len(p.Playlist) == 0 {
			continue
		}
		pl := &vod.Playlist{Path: path, Once: p.Loop != nil && !*p.Loop, Media: a.Media, Log: a.log}
		for _, file := range p.Playlist {
			name, _, _ := vod.SplitFile(file) // validated with the config
			pl.Files = append(pl.Files, name)
		}
		want[path] = pl
	}
	s := &a.sources
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	for path, src := range s.running {
		if pl, ok := want[path]; !ok || describe(pl) != src.what {
			src.cancel()
			<-src.done
			delete(s.running, path)
		}
	}
	for path, pl := range want {
		if s.running[path] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(s.ctx)
		src := &source{what: describe(pl), cancel: cancel, done: make(chan struct{})}
		s.running[path] = src
		a.wg.Go(func() {
			defer close(src.done)
			if err := pl.Run(ctx, a.Relays); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Warn("playlist stopped", "path", path, "err", err)
			}
		})
	}
}

func describe(pl *vod.Playlist) string { return fmt.Sprint(pl.Files, pl.Once) }

// links is what the paths and origin of c ask to pull and push.
func links(c conf.Config) link.Links {
	l := link.Links{Origins: c.Origin, Sources: map[string]link.Source{}, Pushes: map[string][]string{}}
	for path, p := range c.Paths {
		if p.Source != "" {
			l.Sources[path] = link.Source{URL: p.Source, OnDemand: p.OnDemand == nil || *p.OnDemand,
				CloseAfter: p.OnDemandCloseAfter}
		}
		if len(p.Push) > 0 {
			l.Pushes[path] = p.Push
		}
	}
	return l
}

// validate checks cfg and the links it asks for, which the link package knows how to make:
// the first error names the field.
func validate(cfg conf.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := links(cfg).Validate(); err != nil {
		return fmt.Errorf("config %w", err)
	}
	return nil
}
