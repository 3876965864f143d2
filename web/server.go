// Package web is the HTTP server: the stream list page and API, the player pages and their
// embedded assets, and the media endpoints of every stream at /APP/NAME/....
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/relay"
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

// ReadAuthorizer decides who may watch; access.Policy is one.
type ReadAuthorizer interface {
	AllowRead(r access.Request) error
}

// Config tunes the HTTP server.
type Config struct {
	// Access decides who may watch (the media endpoints); nil lets everyone.
	Access            ReadAuthorizer
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof bool
	// RTMPPort and RTSPPort go into the URLs the API and pages show.
	RTMPPort, RTSPPort int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		RTMPPort: 1935, RTSPPort: 8554}
}

// Server serves the web pages, the API and the player's media.
type Server struct {
	cfg     Config
	streams StreamLister
	viewers map[string]ViewerCounter // by protocol
	log     *slog.Logger
	http    *http.Server
}

// New returns a server. fmp4 streams /APP/NAME/stream.mp4 and hls answers /APP/NAME/FILE
// (index.m3u8 and what it lists). viewers maps a protocol name (rtmp, rtsp, web) to its
// counter.
func New(cfg Config, streams StreamLister, fmp4, hls Media, viewers map[string]ViewerCounter, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, streams: streams, viewers: viewers, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveIndex)
	mux.Handle("GET /static/{file}", assets())
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/icon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /api/v1/streams", s.serveStreams)
	// Every stream path APP/NAME that RTMP and RTSP accept has its pages here too
	// (relay.ValidatePath keeps "api" and "static" for the server's own routes).
	mux.HandleFunc("GET /{app}/{name}", s.withStream(servePlayer))
	mux.HandleFunc("GET /{app}/{name}/embed", s.withStream(servePlayer))
	mux.HandleFunc("GET /{app}/{name}/stream.mp4", s.withStream(s.media(fmp4)))
	// LL-HLS: index.m3u8 and the playlists, init segment, segments and parts it lists (the
	// playlists carry the query, with a read key, on to what they list).
	mux.HandleFunc("GET /{app}/{name}/{file}", s.withStream(s.media(hls)))
	var handler http.Handler = mux
	if cfg.Pprof {
		handler = withPprof(mux)
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// withPprof serves net/http/pprof under /debug/pprof/ in front of next. It has a mux of its
// own: in the main one, /debug/pprof/NAME and a stream's /APP/NAME/FILE overlap ("debug" is
// an app no stream may have, but the mux does not know that).
func withPprof(next http.Handler) http.Handler {
	p := http.NewServeMux()
	p.HandleFunc("GET /debug/pprof/", pprof.Index)
	p.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	p.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	p.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	p.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			p.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
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
			req := access.Request{Protocol: "http", Path: path, Query: r.URL.Query()}
			if err := s.cfg.Access.AllowRead(req); err != nil {
				http.Error(w, "this stream needs a key: add ?key=… to the URL", http.StatusUnauthorized)
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
	UptimeSeconds float64        `json:"uptime_seconds"`
	BitrateKbps   int            `json:"bitrate_kbps"`
	Tracks        []trackJSON    `json:"tracks"`
	Viewers       map[string]int `json:"viewers"`
	URLs          urlsJSON       `json:"urls"`
}

type urlsJSON struct {
	Page  string `json:"page"`
	Embed string `json:"embed"`
	FMP4  string `json:"fmp4"`
	HLS   string `json:"hls"`
	RTMP  string `json:"rtmp"`
	RTSP  string `json:"rtsp"`
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
			Path: stats.Path, Name: name, Publishing: stats.Publishing,
			Tracks: []trackJSON{}, Viewers: map[string]int{},
			URLs: urlsJSON{
				Page: "/" + stats.Path, Embed: "/" + stats.Path + "/embed", FMP4: "/" + stats.Path + "/stream.mp4",
				HLS:  "/" + stats.Path + "/index.m3u8",
				RTMP: fmt.Sprintf("rtmp://%s:%d/%s", host, s.cfg.RTMPPort, stats.Path),
				RTSP: fmt.Sprintf("rtsp://%s:%d/%s", host, s.cfg.RTSPPort, stats.Path),
			},
		}
		if up := time.Since(stats.Since); stats.Publishing {
			js.UptimeSeconds = up.Seconds()
			if up > time.Second {
				js.BitrateKbps = int(float64(stats.Bytes) * 8 / up.Seconds() / 1000)
			}
		}
		for _, t := range stats.Tracks {
			kind := "audio"
			if t.Codec.IsVideo() {
				kind = "video"
			}
			js.Tracks = append(js.Tracks, trackJSON{Kind: kind, Codec: t.Codec.String(), Width: t.Width, Height: t.Height,
				SampleRate: t.SampleRate, Channels: t.Channels})
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
