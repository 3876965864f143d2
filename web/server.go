// Package web is the HTTP server: the stream list page and API, the player pages and their
// embedded assets, and the media endpoints of every stream at /APP/NAME/....
package web

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/playback"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
	"github.com/relaycast/relaycast/vod"
)

// StreamLister is what the web server needs from the relay.
type StreamLister interface {
	Streams() []*relay.Stream
}

// ViewerCounter reports viewers per stream path for one protocol.
type ViewerCounter interface {
	Viewers() map[string]int
}

// Media serves one stream in one HTTP format (player/fmp4, player/hls). An error means the
// stream cannot be served and nothing was written; the server answers with its status.
type Media interface {
	ServeMedia(w http.ResponseWriter, r *http.Request, path string) error
}

// Snapshotter makes a live stream's still picture, width pixels wide (0: as it is), and
// says when it was made; snapshot.Maker is one.
type Snapshotter interface {
	JPEG(ctx context.Context, s *relay.Stream, width int) ([]byte, time.Time, error)
}

// Authorizer decides who may watch, and who may upload and delete stored media (as who may
// publish); access.Policy is one.
type Authorizer interface {
	AllowRead(r access.Request) error
	AllowPublish(ctx context.Context, r access.Request) error
}

// Config tunes the HTTP server.
type Config struct {
	// Access decides who may watch (the media endpoints); nil lets everyone.
	Access Authorizer
	// Ladder, when set, gives the rungs of a stream's ladder, which run while watched.
	Ladder            func(main *relay.Stream) []LadderRung
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof bool
	// Stored serves stored media under /vod/ and /api/v1/media; nil: none.
	Stored *vod.HTTP
	// RTMPPort and RTSPPort go into the URLs the API and pages show.
	RTMPPort, RTSPPort int
	// Metrics answers /metrics (Prometheus); nil: none.
	Metrics http.Handler
	// Sessions is the book of publishers and viewers the control API lists and ends, and
	// where the bytes of LL-HLS and stored files are counted; nil: one of the server's own.
	Sessions *session.Table
	// WebRTC answers WHEP at /APP/NAME/whep and WHIP at /APP/NAME/whip; nil: none.
	WebRTC WebRTC
	// ICEServers are named to WHEP and WHIP clients in Link headers.
	ICEServers []ICEServer
	// Snapshots makes the still pictures at /APP/NAME/snapshot.jpg; nil: none.
	Snapshots Snapshotter
	// AllowOrigin lists the origins whose pages may read the media, WebRTC answers and
	// lists ("*": any); APIAllowOrigin those that may use the control API (none: its own).
	AllowOrigin, APIAllowOrigin []string
	// Control is what the control API acts on; nil: no control API.
	Control *Control
	// DVRWindow is how far behind live a path may be rewound (dvr.m3u8, from the recordings
	// of Control); nil or 0: no DVR.
	DVRWindow func(path string) time.Duration
	// APIKey guards the control API (SetAPIKey replaces it).
	APIKey APIKey
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		RTMPPort: 1935, RTSPPort: 8554, AllowOrigin: []string{"*"}}
}

// Server serves the web pages, the API and the player's media.
type Server struct {
	cfg      Config
	streams  StreamLister
	viewers  map[string]ViewerCounter // by protocol
	log      *slog.Logger
	http     *http.Server
	control  *Control
	apiKey   atomic.Pointer[APIKey]
	uploaded atomic.Uint64
}

// New returns a server. fmp4 streams /APP/NAME/stream.mp4 and hls answers /APP/NAME/FILE
// (index.m3u8 and what it lists). viewers maps a protocol name (rtmp, rtsp, web) to its
// counter.
func New(cfg Config, streams StreamLister, fmp4, hls Media, viewers map[string]ViewerCounter, log *slog.Logger) *Server {
	if cfg.Sessions == nil {
		cfg.Sessions = &session.Table{}
	}
	s := &Server{cfg: cfg, streams: streams, viewers: viewers, log: log}
	s.SetAPIKey(cfg.APIKey)
	mux := http.NewServeMux()
	if cfg.Control != nil {
		s.controlRoutes(mux, cfg.Control)
	}
	mux.HandleFunc("GET /{$}", serveIndex)
	mux.Handle("GET /static/{file}", assets())
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/icon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /api/v1/streams", s.serveStreams)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	// Every stream path APP/NAME that RTMP and RTSP accept has its pages here too
	// (relay.ValidatePath keeps "api" and "static" for the server's own routes).
	mux.HandleFunc("GET /{app}/{name}", s.withStream(servePlayer))
	mux.HandleFunc("GET /{app}/{name}/embed", s.withStream(servePlayer))
	mux.HandleFunc("GET /{app}/{name}/stream.mp4", s.withStream(s.media(fmp4)))
	if cfg.Snapshots != nil {
		mux.HandleFunc("GET /{app}/{name}/snapshot.jpg", s.withStream(s.media(snapshots{s.streams, cfg.Snapshots})))
	}
	if cfg.WebRTC != nil {
		s.webrtcRoutes(mux, cfg.WebRTC)
	}
	if c := cfg.Control; c != nil && c.Recorder != nil && c.RecordingFiles != nil && cfg.DVRWindow != nil {
		d := s.media(dvr{rec: c.Recorder, files: c.RecordingFiles, window: cfg.DVRWindow, numbers: &playback.Numbers{}})
		mux.HandleFunc("GET /{app}/{name}/dvr.m3u8", s.withStream(d))
		mux.HandleFunc("GET /{app}/{name}/dvr.mp4", s.withStream(d))
		mux.HandleFunc("GET /{app}/{name}/dvr/{seg}", s.withStream(d))
	}
	// HLS: index.m3u8 (LL-HLS), ts.m3u8 (MPEG-TS), and the playlists, init segments, segments
	// and parts they list (the playlists carry the query, with a read key, on to what they
	// list).
	mux.Handle("GET /{app}/{name}/{file}", s.counted("hls", s.withStream(s.media(hls))))
	front := map[string]http.Handler{}
	if cfg.Pprof {
		front["/debug/pprof"] = pprofMux()
	}
	if cfg.Stored != nil {
		m := s.counted("http", s.storedMux(cfg.Stored))
		front["/vod"], front["/api/v1/media"] = m, m
	}
	s.http = &http.Server{
		Handler:           withCORS(newCORS(cfg.AllowOrigin), newCORS(cfg.APIAllowOrigin), dispatch(front, mux)),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// dispatch sends a request whose path is one of front's prefixes, or under it, to that
// handler, and any other to next. Prefixes have muxes of their own: in the main one,
// /debug/pprof/NAME or /vod/NAME/FILE and a stream's /APP/NAME/FILE would overlap (pattern
// conflicts panic), though no stream may be called debug/... or vod/....
func dispatch(front map[string]http.Handler, next http.Handler) http.Handler {
	if len(front) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for prefix, h := range front {
			if p := r.URL.Path; p == prefix || strings.HasPrefix(p, prefix+"/") {
				h.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func pprofMux() http.Handler {
	p := http.NewServeMux()
	p.HandleFunc("GET /debug/pprof/", pprof.Index)
	p.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	p.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	p.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	p.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return p
}

// storedMux routes stored media: files under /vod/, the list, uploads and deletes. Reading a
// file takes the read key; uploading and deleting take what publishing takes.
func (s *Server) storedMux(st *vod.HTTP) http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /vod/{file...}", func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		if name, part, ok := vod.HLSFile(file); ok && st.Lib.Has(name) { // /vod/NAME/index.m3u8 …
			if !s.refused(w, r, name+".mp4", false) {
				st.ServeHLS(w, r, name, part)
			}
			return
		}
		if !vod.IsFileName(file) { // the page of /vod/NAME or /vod/NAME/embed
			name := strings.TrimSuffix(file, "/embed")
			if _, err := st.Lib.Lookup(name); err != nil {
				http.Error(w, "no such video", http.StatusNotFound)
				return
			}
			serveVODPage(w, r)
			return
		}
		if s.refused(w, r, file, false) {
			return
		}
		st.ServeFile(w, r, file)
	})
	m.HandleFunc("GET /api/v1/media", st.ServeList)
	m.HandleFunc("PUT /api/v1/media/{file...}", func(w http.ResponseWriter, r *http.Request) {
		if file := r.PathValue("file"); !s.refused(w, r, file, true) {
			r.Body = countingBody{r.Body, &s.uploaded}
			st.ServeUpload(w, r, file)
		}
	})
	m.HandleFunc("DELETE /api/v1/media/{file...}", func(w http.ResponseWriter, r *http.Request) {
		if file := r.PathValue("file"); !s.refused(w, r, file, true) {
			st.ServeDelete(w, r, file)
		}
	})
	return m
}

// refused answers 401 and returns true when the policy refuses a request for a stored file
// (as a publish when write is set, else as a read).
func (s *Server) refused(w http.ResponseWriter, r *http.Request, file string, write bool) bool {
	if s.cfg.Access == nil {
		return false
	}
	name := strings.TrimSuffix(file, path.Ext(file))
	req := access.Request{Protocol: "http", Path: relay.StoredPrefix + name, Query: r.URL.Query(), Addr: remoteAddr(r), Login: basicLogin(r)}
	var err error
	if write {
		err = s.cfg.Access.AllowPublish(r.Context(), req)
	} else {
		err = s.cfg.Access.AllowRead(req)
	}
	if err != nil {
		refuse(w, err)
		return true
	}
	return false
}

// refuse answers 401 with why (never a secret), with a Basic challenge when a user's login
// would do: players send their credentials only when challenged.
func refuse(w http.ResponseWriter, err error) {
	if errors.Is(err, access.ErrLogin) {
		w.Header().Set("WWW-Authenticate", `Basic realm="relaycast", charset="UTF-8"`)
	}
	http.Error(w, err.Error(), http.StatusUnauthorized)
}

// basicLogin checks a user's login against r's Basic authorization.
func basicLogin(r *http.Request) func(user, pass string) bool {
	return func(user, pass string) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == user && subtle.ConstantTimeCompare([]byte(p), []byte(pass)) == 1
	}
}

func remoteAddr(r *http.Request) net.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

// withStream validates the stream path of a /APP/NAME/... URL before the handler sees it.
func (s *Server) withStream(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.PathValue("app") + "/" + r.PathValue("name")
		if err := relay.ValidatePath(path); err != nil {
			http.Error(w, "invalid stream name", http.StatusNotFound)
			return
		}
		h(w, r, path)
	}
}

// media checks the read key (?key=) and serves the stream in m's format.
func (s *Server) media(m Media) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, path string) {
		if s.cfg.Access != nil {
			req := access.Request{Protocol: "http", Path: path, Query: r.URL.Query(), Addr: remoteAddr(r), Login: basicLogin(r)}
			if err := s.cfg.Access.AllowRead(req); err != nil {
				refuse(w, err)
				return
			}
		}
		if err := m.ServeMedia(w, r, path); err != nil {
			mediaError(w, err)
		}
	}
}

// mediaError answers a request for a stream that cannot be served.
func mediaError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, relay.ErrNotFound), errors.Is(err, relay.ErrInvalidPath), errors.Is(err, relay.ErrEnded):
		http.Error(w, "stream is not live", http.StatusNotFound)
	default:
		http.Error(w, "stream unavailable", http.StatusServiceUnavailable)
	}
}

// Serve serves HTTP on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if err := s.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting and waits for requests to finish until ctx ends, then closes
// what is left (live media responses do not finish by themselves).
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.http.Shutdown(ctx); err != nil {
		return errors.Join(err, s.http.Close())
	}
	return nil
}

// Close closes every connection at once.
func (s *Server) Close() error { return s.http.Close() }

type trackJSON struct {
	Kind       string `json:"kind"`
	Codec      string `json:"codec"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	SampleRate int    `json:"sample_rate,omitempty"`
	Channels   int    `json:"channels,omitempty"`
}

type streamJSON struct {
	Path          string         `json:"path"`
	Name          string         `json:"name"`
	Publishing    bool           `json:"publishing"`
	Standby       bool           `json:"standby,omitempty"`     // the offline slate plays: the publisher is away
	DVRSeconds    float64        `json:"dvr_seconds,omitempty"` // how far back viewers may rewind
	Protocol      string         `json:"protocol,omitempty"`    // of the publisher: rtmp, playlist…
	UptimeSeconds float64        `json:"uptime_seconds"`
	BitrateKbps   int            `json:"bitrate_kbps"`
	Tracks        []trackJSON    `json:"tracks"`
	Viewers       map[string]int `json:"viewers"`
	URLs          urlsJSON       `json:"urls"`
	// RenditionOf is the stream a rendition is of; Renditions, a stream's other renditions
	// (those a ladder makes only while watched included), smallest first.
	RenditionOf string          `json:"rendition_of,omitempty"`
	Renditions  []renditionJSON `json:"renditions,omitempty"`
}

type renditionJSON struct {
	Path        string `json:"path"`
	Label       string `json:"label"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height"`
	BitrateKbps int    `json:"bitrate_kbps"`
	Running     bool   `json:"running"` // false: a ladder's rung nobody watches, started by the first who does
}

type urlsJSON struct {
	Page     string `json:"page"`
	Embed    string `json:"embed"`
	FMP4     string `json:"fmp4"`
	HLS      string `json:"hls"`
	HLSTS    string `json:"hls_ts"` // HLS of MPEG-TS segments, for players without LL-HLS
	RTMP     string `json:"rtmp"`
	RTSP     string `json:"rtsp"`
	Snapshot string `json:"snapshot,omitempty"` // the latest keyframe as a JPEG, for streams with a picture
	WHEP     string `json:"whep,omitempty"`     // when WebRTC is on and can play the stream
	WHIP     string `json:"whip,omitempty"`     // when WebRTC is on
	DVR      string `json:"dvr,omitempty"`      // when the path keeps a DVR window
}

func tracksJSON(tracks []*relay.Track) []trackJSON {
	out := []trackJSON{}
	for _, t := range tracks {
		kind := "audio"
		if t.Codec.IsVideo() {
			kind = "video"
		}
		out = append(out, trackJSON{Kind: kind, Codec: t.Codec.String(), Width: t.Width, Height: t.Height,
			SampleRate: t.SampleRate, Channels: t.Channels})
	}
	return out
}

// renditions are main's other renditions, running or a ladder's, smallest first.
func (s *Server) renditions(main *relay.Stream) []renditionJSON {
	var out []renditionJSON
	for _, r := range main.Renditions() {
		st := r.Stats()
		js := renditionJSON{Path: st.Path, Label: strings.TrimPrefix(st.Path, main.Path()+relay.RenditionSep), Running: st.Publishing}
		if v, _ := relay.FirstTracks(st.Tracks, nil); v != nil {
			js.Width, js.Height = v.Width, v.Height
		}
		if up := time.Since(st.Since); st.Publishing && up > time.Second {
			js.BitrateKbps = int(float64(st.Bytes) * 8 / up.Seconds() / 1000)
		}
		out = append(out, js)
	}
	if s.cfg.Ladder != nil {
		for _, rung := range s.cfg.Ladder(main) {
			path := main.Path() + relay.RenditionSep + rung.Label
			if !slices.ContainsFunc(out, func(r renditionJSON) bool { return r.Path == path }) {
				out = append(out, renditionJSON{Path: path, Label: rung.Label, Width: rung.Width, Height: rung.Height, BitrateKbps: rung.Kbps})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b renditionJSON) int {
		return cmp.Or(cmp.Compare(a.Height, b.Height), cmp.Compare(a.BitrateKbps, b.BitrateKbps))
	})
	return out
}

// LadderRung is a rendition a path's ladder makes while someone watches it.
type LadderRung struct {
	Label               string
	Width, Height, Kbps int
}

func (s *Server) serveStreams(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	viewers := map[string]map[string]int{}
	for proto, c := range s.viewers {
		viewers[proto] = c.Viewers()
	}
	out := struct {
		Streams []streamJSON `json:"streams"`
	}{Streams: []streamJSON{}}
	for _, st := range s.streams.Streams() {
		stats := st.Stats()
		_, name, _ := strings.Cut(stats.Path, "/")
		js := streamJSON{
			Path: stats.Path, Name: name, Publishing: stats.Publishing, Standby: stats.Standby, Protocol: stats.Protocol,
			Viewers: map[string]int{},
			URLs: urlsJSON{
				Page: "/" + stats.Path, Embed: "/" + stats.Path + "/embed", FMP4: "/" + stats.Path + "/stream.mp4",
				HLS: "/" + stats.Path + "/index.m3u8", HLSTS: "/" + stats.Path + "/ts.m3u8",
				RTMP: fmt.Sprintf("rtmp://%s:%d/%s", host, s.cfg.RTMPPort, stats.Path),
				RTSP: fmt.Sprintf("rtsp://%s:%d/%s", host, s.cfg.RTSPPort, stats.Path),
			},
		}
		if s.cfg.Snapshots != nil && slices.ContainsFunc(stats.Tracks, func(t *relay.Track) bool { return t.Codec.IsVideo() }) {
			js.URLs.Snapshot = "/" + stats.Path + "/snapshot.jpg"
		}
		if s.cfg.DVRWindow != nil && s.cfg.DVRWindow(stats.Path) > 0 {
			js.URLs.DVR, js.DVRSeconds = "/"+stats.Path+"/dvr.m3u8", s.cfg.DVRWindow(stats.Path).Seconds()
		}
		if s.cfg.WebRTC != nil {
			js.URLs.WHIP = "/" + stats.Path + "/whip"
			if s.cfg.WebRTC.Playable(stats.Tracks) == nil {
				js.URLs.WHEP = "/" + stats.Path + "/whep"
			}
		}
		if up := time.Since(stats.Since); stats.Publishing {
			js.UptimeSeconds = up.Seconds()
			if up > time.Second {
				js.BitrateKbps = int(float64(stats.Bytes) * 8 / up.Seconds() / 1000)
			}
		}
		js.Tracks = tracksJSON(stats.Tracks)
		if main := st.Main(); main != st {
			js.RenditionOf = main.Path()
		} else {
			js.Renditions = s.renditions(st)
		}
		for proto, byPath := range viewers {
			js.Viewers[proto] = byPath[stats.Path]
		}
		out.Streams = append(out.Streams, js)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}
