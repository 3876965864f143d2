// Package app is relaycast's one wiring: it builds every part from a conf.Config, serves
// until told to stop and shuts down in order. The binary and the tests both run it, so the
// tests run exactly what ships.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/connlimit"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/ladder"
	"github.com/relaycast/relaycast/link"
	"github.com/relaycast/relaycast/metrics"
	"github.com/relaycast/relaycast/playback"
	"github.com/relaycast/relaycast/player/fmp4"
	"github.com/relaycast/relaycast/player/hls"
	"github.com/relaycast/relaycast/record"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
	"github.com/relaycast/relaycast/rtsp"
	"github.com/relaycast/relaycast/session"
	"github.com/relaycast/relaycast/slate"
	"github.com/relaycast/relaycast/snapshot"
	"github.com/relaycast/relaycast/srt"
	"github.com/relaycast/relaycast/vod"
	"github.com/relaycast/relaycast/web"
	"github.com/relaycast/relaycast/webhook"
	"github.com/relaycast/relaycast/webrtc"
)

// ShutdownTimeout bounds Run's clean stop.
const ShutdownTimeout = 5 * time.Second

// Tuning is each part's configuration as New derives it from conf.Config. A test may adjust
// what operators cannot set (timeouts, buffer sizes) before the parts are built.
type Tuning struct {
	policy *access.Switch // what RTMP, RTSP and the web decide with, replaced on reload

	Relay  relay.Config
	RTMP   rtmp.Config
	RTSP   rtsp.Config
	FMP4   fmp4.Config
	HLS    hls.Config
	Web    web.Config
	Record record.Config
	SRT    srt.Config
	WebRTC webrtc.Config
	Hooks  webhook.Config
}

// App is a built server: every part, listening, not yet serving.
type App struct {
	Relays *relay.Registry
	RTMP   *rtmp.Server
	RTSP   *rtsp.Server
	SRT    *srt.Server
	WebRTC *webrtc.Server
	FMP4   *fmp4.Server
	HLS    *hls.Server
	Web    *web.Server
	Media  *vod.Library
	Stored *vod.Player // stored files played to RTMP (and later RTSP) viewers
	Record *record.Recorder
	// Links pulls sources and origins' streams and pushes streams to other servers.
	Links *link.Manager
	// Ladder transcodes the renditions of paths with a ladder while someone watches them.
	Ladder *ladder.Manager
	// Sessions is the book of every publisher and viewer, of every protocol.
	Sessions *session.Table
	// Hooks sends events to the configured webhooks; nil: none.
	Hooks *webhook.Sender
	// Snapshots makes the streams' still pictures.
	Snapshots *snapshot.Maker
	// Slates makes the offline slates.
	Slates *slate.Maker
	// LogLevel, when set, is the level of the log, which a reload changes.
	LogLevel *slog.LevelVar

	cfgMu     sync.Mutex
	cfg       conf.Config  // under cfgMu
	reloadMu  sync.Mutex   // one reload at a time
	metrics   *http.Server // the separate metrics port's; nil: none
	log       *slog.Logger
	lns       listeners
	srtLn     gosrt.Listener // nil: SRT is off
	limiter   *connlimit.Limiter
	policy    *access.Switch
	certs     *certs
	certMu    sync.Mutex
	stopCerts context.CancelFunc // ends the watch of the certificate's files

	sources  sources // the demo and playlists
	wg       sync.WaitGroup
	errc     chan error
	stopOnce sync.Once
}

// New validates cfg, derives each part's configuration (passed to tune, when not nil), opens
// the listeners and builds the parts.
func New(cfg conf.Config, log *slog.Logger, tune func(*Tuning)) (*App, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	t := tuning(cfg)
	if tune != nil {
		tune(&t)
	}
	if err := t.Relay.Validate(); err != nil {
		return nil, err
	}
	media, err := vod.Open(cfg.MediaDir, log)
	if err != nil {
		return nil, err
	}
	tlsCerts := newCerts()
	if cfg.TLSCert != "" {
		if err := tlsCerts.load(cfg.TLSCert, cfg.TLSKey); err != nil {
			media.Close()
			return nil, err
		}
	}
	lns, err := listenAll(cfg, tlsCerts.config)
	if err != nil {
		media.Close()
		return nil, err
	}
	t.Web.Stored = &vod.HTTP{Lib: media, MaxUpload: int64(cfg.MaxUpload), Log: log}
	stored := vod.NewPlayer(media)
	t.RTMP.Stored, t.RTSP.Stored = stored, stored
	t.Web.RTMPPort, t.Web.RTSPPort = port(lns.rtmp), port(lns.rtsp)
	a := &App{cfg: cfg, log: log, lns: lns, Media: media, Stored: stored, errc: make(chan error, 6),
		Sessions: &session.Table{}, policy: t.policy, certs: tlsCerts}
	a.sources.init()
	t.RTMP.Sessions, t.RTSP.Sessions, t.FMP4.Sessions, t.Web.Sessions = a.Sessions, a.Sessions, a.Sessions, a.Sessions
	t.SRT.Sessions, t.WebRTC.Sessions = a.Sessions, a.Sessions
	if cfg.HLSSessions {
		t.HLS.Sessions = a.Sessions
	}
	a.limiter = &connlimit.Limiter{Max: cfg.MaxConns, PerIP: cfg.MaxConnsPerIP, Log: log}
	t.SRT.Admit = func(addr net.Addr) (func(), bool) { return a.limiter.Admit(addr, "srt") }
	t.WebRTC.Admit = func(addr net.Addr) (func(), bool) { return a.limiter.Admit(addr, "webrtc") }
	a.Relays = relay.NewRegistry(t.Relay)
	a.Slates = slate.New(media, log)
	a.Relays.SetStandby(a.standbyOf)
	a.Relays.SetMainRendition(func(path string) string { return a.Config().MainRenditionOf(path) })
	if cfg.Slate != "" && !a.Slates.Ready() {
		log.Warn("no offline slate: " + slate.ErrNoFFmpeg.Error())
	}
	a.Snapshots = snapshot.New()
	if !a.Snapshots.Ready() {
		log.Warn("no stream pictures (/APP/NAME/snapshot.jpg): " + snapshot.ErrNoFFmpeg.Error())
	}
	t.Web.Snapshots = a.Snapshots
	if len(t.Hooks.URLs) > 0 {
		a.Hooks = webhook.New(t.Hooks, log)
		t.Record.OnSegment = func(s record.Segment) { a.Hooks.Emit(segmentEvent(s)) }
	}
	t.Record.Window = func(path string) time.Duration { return dvrOnlyWindow(a.Config())(path) } // as reloaded
	a.Record = record.New(t.Record, recordStore{media}, log)
	stored.Windows = a.window
	a.Links = link.New(a.Relays, a.Sessions.Viewers, log)
	a.emitEvents()
	a.Ladder = ladder.New(ladderConfig(cfg), a.Relays, a.Sessions.Viewers, log)
	a.Relays.SetSourcer(sourcers{a.Ladder, a.Links})
	t.HLS.Ladder = hlsRungs(a.Ladder)
	t.Web.Ladder = webRungs(a.Ladder)
	t.WebRTC.Rungs = webrtcRungs(a.Ladder)
	a.policy.SetUpstream(a.Links.Upstream)
	a.RTMP = rtmp.New(t.RTMP, a.Relays, log)
	a.RTSP = rtsp.New(t.RTSP, a.Relays, log)
	a.SRT = srt.New(t.SRT, a.Relays, log)
	a.WebRTC = webrtc.New(t.WebRTC, a.Relays, log)
	if err := a.listenUDP(cfg); err != nil {
		lns.close()
		media.Close()
		return nil, err
	}
	if cfg.WebRTC != "" {
		t.Web.WebRTC = a.WebRTC
	}
	a.FMP4 = fmp4.New(t.FMP4, a.Relays, log)
	a.HLS = hls.New(t.HLS, a.Relays, log)
	viewers := map[string]web.ViewerCounter{"rtmp": a.RTMP, "rtsp": a.RTSP, "srt": a.SRT, "web": a.FMP4, "webrtc": a.WebRTC,
		"hls": hlsViewers{a.Sessions}}
	if t.Web.Control == nil {
		t.Web.Control = &web.Control{}
	}
	t.Web.Control.Recorder, t.Web.Control.RecordingFiles = a.Record, media
	t.Web.DVRWindow = func(path string) time.Duration { return a.Config().DVRWindow(path) }
	t.Web.Control.Config = func() any { return a.Config().Shown() }
	t.Web.Control.Links = func() any { return a.Links.Links() }
	var m http.Handler
	m, t.Web.Metrics = a.metricsHandler(viewers), nil
	if lns.metrics == nil {
		t.Web.Metrics = m
	} else {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m)
		a.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: t.Web.ReadHeaderTimeout}
	}
	a.Web = web.New(t.Web, a.Relays, a.FMP4, a.HLS, viewers, log)
	return a, nil
}

// recordedOrDVR says whether a path is recorded: for itself, or for its DVR window.
func recordedOrDVR(cfg conf.Config) func(string) bool {
	return func(path string) bool { return cfg.Recorded(path) || cfg.DVRWindow(path) > 0 }
}

// dvrOnlyWindow is the window of a path recorded for its DVR alone, whose files go once out
// of it.
func dvrOnlyWindow(cfg conf.Config) func(string) time.Duration {
	return func(path string) time.Duration {
		if cfg.RecordedForDVR(path) {
			return cfg.DVRWindow(path)
		}
		return 0
	}
}

// window is a live path's DVR window as a stored medium (vod/dvr/APP/NAME on RTMP and
// RTSP): its recordings from the window's start to now, as they are when a player opens it.
func (a *App) window(path string) (vod.Window, error) {
	win := a.Config().DVRWindow(path)
	if win <= 0 {
		return vod.Window{}, fmt.Errorf("%w: %s keeps no DVR window", vod.ErrNotFound, path)
	}
	spans, err := a.Record.Spans(path)
	if err != nil {
		return vod.Window{}, err
	}
	now := time.Now()
	clip, err := playback.Make(a.Media, spans, now.Add(-win), win)
	if errors.Is(err, playback.ErrNothing) {
		return vod.Window{}, fmt.Errorf("%w: nothing of %s recorded in its window", vod.ErrNotFound, path)
	}
	if err != nil {
		return vod.Window{}, err
	}
	return clip.Window(), nil
}

// standbyOf is what plays on path while its publisher is away past grace: its slate.
func (a *App) standbyOf(path string) relay.Standby {
	spec := a.Config().SlateOf(path)
	if spec == "" {
		return nil
	}
	return a.Slates.Standby(spec)
}

// listenUDP binds the UDP ports, RTSP's RTP/RTCP pair first so that no other socket bound to
// port 0 can take it, then SRT and WebRTC's ICE; on failure none stays open.
func (a *App) listenUDP(cfg conf.Config) (err error) {
	defer func() {
		if err != nil {
			if a.srtLn != nil {
				a.srtLn.Close()
			}
			_ = a.RTSP.Close()
		}
	}()
	if addr := a.lns.rtsp.Addr(); addr != nil {
		host, _, _ := net.SplitHostPort(addr.String())
		if err := a.RTSP.ListenUDP(host); err != nil {
			return err
		}
	}
	if cfg.SRT != "" {
		if a.srtLn, err = a.SRT.Listen(cfg.SRT); err != nil {
			return err
		}
	}
	if cfg.WebRTC != "" {
		return a.WebRTC.Listen(cfg.WebRTC)
	}
	return nil
}

// metricsHandler serves the Prometheus metrics of every part.
func (a *App) metricsHandler(viewers map[string]web.ViewerCounter) http.Handler {
	src := metrics.Sources{Relays: a.Relays, Readers: map[string]func() map[string]int{}, Connections: a.limiter,
		Refusals: map[string]func() map[session.Refusal]uint64{"rtmp": a.RTMP.Refusals, "rtsp": a.RTSP.Refusals,
			"srt": a.SRT.Refusals},
		Sessions: a.Sessions,
		Recordings: func() (uint64, uint64) {
			st := a.Record.Stats()
			return st.Bytes, st.Files
		},
		Uploaded: func() uint64 { return a.Web.Uploaded() },
		Ladder:   ladderMetrics(a.Ladder),
		Links: func() []metrics.Link {
			var out []metrics.Link
			for _, l := range a.Links.Links() {
				out = append(out, metrics.Link{Kind: l.Kind, Path: l.Path, URL: l.URL, Live: l.State == link.StateLive,
					Connects: l.Connects, Failures: l.Failures})
			}
			return out
		},
	}
	for proto, v := range viewers {
		src.Readers[proto] = v.Viewers
	}
	src.SnapshotDecodes = a.Snapshots.Decodes
	if a.Hooks != nil {
		src.Webhooks = func() (uint64, uint64, uint64, int) {
			st := a.Hooks.Stats()
			return st.Sent, st.Failed, st.Dropped, st.Queued
		}
	}
	return metrics.Handler(src)
}

// tuning derives every part's configuration from the operator's.
func tuning(cfg conf.Config) Tuning {
	policy := access.NewSwitch(policyOf(cfg))
	t := Tuning{policy: policy, Relay: relay.DefaultConfig(), RTMP: rtmp.DefaultConfig(), RTSP: rtsp.DefaultConfig(),
		FMP4: fmp4.DefaultConfig(), HLS: hls.DefaultConfig(), Web: web.DefaultConfig()}
	t.Relay.Grace, t.Relay.MaxLag, t.Relay.MaxStreams = cfg.Grace, cfg.MaxLag, cfg.MaxStreams
	t.RTMP.Access, t.RTMP.NoDelay = policy, cfg.RTMPNoDelay
	t.RTSP.RTPPort, t.RTSP.RTCPPort, t.RTSP.MulticastRange = cfg.RTSPRTPPort, cfg.RTSPRTCPPort, cfg.RTSPMulticast
	t.RTSP.Access = policy
	t.FMP4.MaxLag = cfg.MaxLag
	t.SRT = srt.DefaultConfig()
	t.SRT.Access, t.SRT.Passphrase, t.SRT.Latency, t.SRT.MaxLag = policy, cfg.SRTPassphrase, cfg.SRTLatency, cfg.MaxLag
	t.WebRTC = webrtc.DefaultConfig()
	t.WebRTC.Hosts, t.WebRTC.MaxLag = cfg.WebRTCHosts, cfg.MaxLag
	t.RTSP.MaxLag = cfg.MaxLag
	t.Web.Access, t.Web.Pprof = policy, cfg.Pprof
	t.Web.AllowOrigin, t.Web.APIAllowOrigin = cfg.AllowOrigin, cfg.APIAllowOrigin
	t.Hooks = webhook.DefaultConfig()
	t.Hooks.URLs, t.Hooks.Secret = cfg.WebhookURLs, cfg.WebhookSecret
	for _, raw := range cfg.WebRTCICEServers {
		is, _ := conf.ParseICEServer(raw) // validated with the configuration
		t.Web.ICEServers = append(t.Web.ICEServers, web.ICEServer(is))
	}
	t.Web.APIKey = web.APIKey{Key: cfg.APIKey, Loopback: cfg.APIKeyLoopback}
	t.Record = record.DefaultConfig()
	t.Record.Enabled = recordedOrDVR(cfg)
	t.Record.Segment, t.Record.DeleteAfter, t.Record.MaxBytes = cfg.RecordSegment, cfg.RecordDeleteAfter, int64(cfg.RecordMaxBytes)
	return t
}

// Addrs are the addresses the app listens on (with the ports the system chose for port 0);
// a port that is off has none.
type Addrs struct{ RTMP, RTSP, HTTP, Metrics, RTMPS, RTSPS, HTTPS, SRT, WebRTC string }

// Addrs returns the listening addresses.
func (a *App) Addrs() Addrs {
	var ad Addrs
	for _, p := range []struct {
		dst  *string
		ln   *listener
		name string
	}{{&ad.RTMP, a.lns.rtmp, "rtmp"}, {&ad.RTSP, a.lns.rtsp, "rtsp"}, {&ad.HTTP, a.lns.http, "http"},
		{&ad.Metrics, a.lns.metrics, "metrics"}, {&ad.RTMPS, a.lns.rtmp, "rtmps"}, {&ad.RTSPS, a.lns.rtsp, "rtsps"},
		{&ad.HTTPS, a.lns.http, "https"}} {
		if p.ln == nil {
			continue
		}
		if addr := p.ln.addrOf(p.name); addr != nil {
			*p.dst = addr.String()
		}
	}
	if addr := a.WebRTC.Addr(); addr != nil {
		ad.WebRTC = addr.String()
	}
	if a.srtLn != nil {
		ad.SRT = a.srtLn.Addr().String()
	}
	return ad
}

// Start serves every listener and, when configured, publishes the demo stream. A server that
// fails reports on Failed.
func (a *App) Start() {
	serve := func(name string, s interface{ Serve(net.Listener) error }, l net.Listener) {
		a.wg.Go(func() {
			if err := s.Serve(a.limiter.Listen(l, name)); err != nil {
				a.errc <- err
			}
		})
	}
	a.Record.Watch(a.Relays) // before anything can publish
	a.Links.Watch(a.Relays)
	serve("rtmp", a.RTMP, a.lns.rtmp)
	serve("rtsp", a.RTSP, a.lns.rtsp)
	serve("http", a.Web, a.lns.http)
	if a.srtLn != nil {
		a.wg.Go(func() {
			if err := a.SRT.Serve(a.srtLn); err != nil {
				a.errc <- err
			}
		})
	}
	if a.metrics != nil {
		serve("metrics", metricsServer{a.metrics}, a.lns.metrics)
	}
	a.applySources(a.Config())
	a.Links.Set(links(a.Config()))
	a.followCerts()
	addrs := a.Addrs()
	a.log.Info("relaycast listening", "rtmp", addrs.RTMP, "rtsp", addrs.RTSP, "http", addrs.HTTP, "metrics", addrs.Metrics,
		"rtmps", addrs.RTMPS, "rtsps", addrs.RTSPS, "https", addrs.HTTPS, "srt", addrs.SRT, "webrtc", addrs.WebRTC,
		"publish", fmt.Sprintf("rtmp://HOST:%d/live/NAME", port(a.lns.rtmp)),
		"watch", fmt.Sprintf("http://HOST:%d/", port(a.lns.http)))
}

// Config returns the configuration the app runs with.
func (a *App) Config() conf.Config {
	a.cfgMu.Lock()
	defer a.cfgMu.Unlock()
	return a.cfg
}

// Failed delivers the error of a server that stopped by itself.
func (a *App) Failed() <-chan error { return a.errc }

// Run starts the app, serves until ctx is done or a server fails, then shuts down within
// ShutdownTimeout.
func (a *App) Run(ctx context.Context) error {
	stopProfiling, err := startProfiling(a.Config(), 15*time.Second, a.log)
	if err != nil {
		a.closeListeners()
		return err
	}
	defer stopProfiling()
	a.Start()
	select {
	case <-ctx.Done():
		a.log.Info("shutting down")
	case err = <-a.errc:
	}
	// A second is kept for what follows the servers' shutdown.
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout-time.Second)
	defer cancel()
	if serr := a.Shutdown(sctx); serr != nil {
		return errors.Join(err, serr)
	}
	a.log.Info("stopped")
	return err
}

// Shutdown ends every stream, which tells every viewer (RTMP UnpublishNotify, RTCP BYE, the
// end of the HTTP response) and lets them hang up until ctx ends; publishers hear it from the
// servers' own Shutdown. Then everything left is closed.
func (a *App) Shutdown(ctx context.Context) error {
	return a.stop(func() error {
		return errors.Join(a.RTMP.Shutdown(ctx), a.RTSP.Shutdown(ctx), a.SRT.Shutdown(ctx), a.WebRTC.Close(), a.FMP4.Close(), a.HLS.Close(), a.Web.Shutdown(ctx),
			a.closeMetrics())
	}, ctx)
}

// Close stops everything at once.
func (a *App) Close() error {
	return a.stop(func() error {
		return errors.Join(a.RTMP.Close(), a.RTSP.Close(), a.SRT.Close(), a.WebRTC.Close(), a.FMP4.Close(), a.HLS.Close(), a.Web.Close(), a.closeMetrics())
	}, context.Background())
}

func (a *App) stop(servers func() error, ctx context.Context) error {
	var err error
	a.stopOnce.Do(func() {
		a.sources.stop()
		a.Links.Close()
		a.Ladder.Close()
		a.Relays.Close()
		err = errors.Join(servers(), a.Record.Close()) // recordings end with their streams
		a.closeListeners()                             // a listener never served (Start not called) closes here
		a.Stored.Close()
		err = errors.Join(err, a.Media.Close())
		if a.Hooks != nil {
			a.Hooks.Close() // after the last sessions' stops were queued
		}
		done := make(chan struct{})
		go func() { a.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("shutdown: %w", ctx.Err()))
		}
	})
	return err
}

// listeners are each server's: RTMP (with RTMPS), RTSP (with RTSPS), HTTP (with HTTPS), and
// the metrics port when it has one of its own (else nil).
type listeners struct{ rtmp, rtsp, http, metrics *listener }

// portSpec is one port as a configuration sets it.
type portSpec struct {
	ln   *listener
	name string // the configuration key
	addr string // "": closed
	tls  bool
}

func (ls listeners) ports(cfg conf.Config) []portSpec {
	tlsAddr := func(addr string) string {
		if cfg.TLSCert == "" {
			return ""
		}
		return addr
	}
	ps := []portSpec{{ls.rtmp, "rtmp", cfg.RTMP, false}, {ls.rtmp, "rtmps", tlsAddr(cfg.RTMPS), true},
		{ls.rtsp, "rtsp", cfg.RTSP, false}, {ls.rtsp, "rtsps", tlsAddr(cfg.RTSPS), true},
		{ls.http, "http", cfg.HTTP, false}, {ls.http, "https", tlsAddr(cfg.HTTPS), true}}
	if ls.metrics != nil {
		ps = append(ps, portSpec{ls.metrics, "metrics", cfg.Metrics, false})
	}
	return ps
}

// listenAll opens every port cfg names, or none.
func listenAll(cfg conf.Config, tc *tls.Config) (listeners, error) {
	ls := listeners{rtmp: newListener(), rtsp: newListener(), http: newListener()}
	if cfg.Metrics != "" {
		ls.metrics = newListener()
	}
	for _, p := range ls.ports(cfg) {
		if p.addr == "" {
			continue
		}
		var ptc *tls.Config
		if p.tls {
			ptc = tc
		}
		if err := p.ln.set(p.name, p.addr, ptc); err != nil {
			ls.close()
			return ls, fmt.Errorf("%s listen %s: %w", p.name, p.addr, err)
		}
	}
	if err := probeUDP(cfg); err != nil {
		ls.close()
		return ls, err
	}
	return ls, nil
}

func (a *App) closeListeners() {
	a.lns.close()
	if a.srtLn != nil {
		a.srtLn.Close()
	}
}

func (ls listeners) close() {
	for _, l := range []*listener{ls.rtmp, ls.rtsp, ls.http, ls.metrics} {
		if l != nil {
			_ = l.Close()
		}
	}
}

func (a *App) closeMetrics() error {
	if a.metrics == nil {
		return nil
	}
	return a.metrics.Close()
}

// metricsServer serves the metrics port; Serve returns nil once closed, like the others.
type metricsServer struct{ *http.Server }

func (m metricsServer) Serve(l net.Listener) error {
	if err := m.Server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics serve: %w", err)
	}
	return nil
}

func port(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// recordStore keeps recordings in the media directory.
type recordStore struct{ lib *vod.Library }

func (s recordStore) Create(file string) (io.WriteCloser, error)  { return s.lib.Create(file) }
func (s recordStore) Remove(file string) error                    { return s.lib.Remove(file) }
func (s recordStore) ReadFile(file string) ([]byte, error)        { return s.lib.ReadFile(file) }
func (s recordStore) WriteFile(file string, b []byte) error       { return s.lib.WriteFile(file, b) }
func (s recordStore) Open(file string) (io.ReadSeekCloser, error) { return s.lib.OpenFile(file) }

func (s recordStore) Files(dir string) ([]record.File, error) {
	files, err := s.lib.Files(dir)
	out := make([]record.File, len(files))
	for i, f := range files {
		out[i] = record.File{Name: f.Name, Size: f.Size, ModTime: f.ModTime}
	}
	return out, err
}

// Demo is the built-in demo stream: a playlist of the clip embedded in the binary, looped at
// path, so `make run` shows video with no encoder and no media directory content.
func Demo(path string, log *slog.Logger) (*vod.Playlist, error) {
	clip, err := vod.NewClip("demo", ingest.DemoClip())
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return &vod.Playlist{Path: path, Files: []string{"demo"}, Media: clip, Log: log}, nil
}

// hlsViewers counts the HLS sessions of each path.
type hlsViewers struct{ t *session.Table }

func (h hlsViewers) Viewers() map[string]int { return h.t.Readers("hls") }
