// Package hls delivers live streams as Low-Latency HLS (Safari and iOS, hls.js, VLC, ffmpeg,
// HTTP caches), and as HLS of MPEG-TS segments for players without fMP4 or LL-HLS
// (GStreamer's, set-top boxes): one gohlslib muxer of each per stream, started by its first
// client, cuts segments and parts in memory and answers every client's playlist and media
// requests.
package hls

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// Relay is what the server needs from the relay.
type Relay interface {
	// Demand returns the stream at path for a viewer; a pulled path comes on demand, with
	// key passed on to its source.
	Demand(ctx context.Context, path, key string) (*relay.Stream, error)
}

// Config tunes HLS delivery.
type Config struct {
	// TrackWait bounds the wait for a stream that just went live to show its tracks.
	TrackWait time.Duration
	// Sessions, when set, is the book HLS clients are entered in as sessions (sessions.go).
	Sessions *session.Table
	// Ladder, when set, gives the rungs of a stream's ladder that are transcoded while
	// someone watches them (master.go lists them whether they run or not).
	Ladder func(main *relay.Stream) []Rung
}

// Rung is a rendition a ladder makes on demand at APP/NAME~Label: its picture height,
// bitrate (bit/s) and RFC 6381 codec.
type Rung struct {
	Label           string
	Height, Bitrate int
	Codecs          string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{TrackWait: 2 * time.Second} }

// Server muxes relay streams into HLS and answers HLS requests.
type Server struct {
	relays Relay
	ladder func(main *relay.Stream) []Rung
	log    *slog.Logger
	ll, ts relay.Outputs[*muxer]
	sess   *sessions // nil: not counted
}

// New returns a server reading from relays.
func New(cfg Config, relays Relay, log *slog.Logger) *Server {
	s := &Server{relays: relays, log: log, ladder: cfg.Ladder}
	outputs := func(ts bool, label string) relay.Outputs[*muxer] {
		return relay.Outputs[*muxer]{
			New: func(src *relay.Stream, tracks []*relay.Track) (*muxer, error) {
				m, err := newMuxer(src, tracks, ts, log.With("path", src.Path(), "hls", label))
				if err == nil && !ts {
					m.reports = func() []*playlist.MediaRenditionReport { return s.reports(src) }
				}
				return m, err
			},
			TrackWait: cfg.TrackWait, Label: "http-hls-" + label,
		}
	}
	s.ll, s.ts = outputs(false, "ll"), outputs(true, "ts")
	if cfg.Sessions != nil {
		s.sess = newSessions(cfg.Sessions, log)
	}
	return s
}

// TSPlaylist is the playlist of a stream's MPEG-TS variant, beside the LL-HLS index.m3u8.
const TSPlaylist = "ts.m3u8"

// ServeMedia answers one request for a file of path's HLS: index.m3u8 (LL-HLS), ts.m3u8
// (MPEG-TS) and what they list. An error means the stream cannot be served and nothing was
// written.
func (s *Server) ServeMedia(w http.ResponseWriter, r *http.Request, stream string) error {
	// The MPEG-TS muxer's names: its multivariant playlist (index.m3u8 to gohlslib, served as
	// ts.m3u8), the media playlist it lists and its .ts segments; none is a name of LL-HLS.
	outputs := &s.ll
	file := path.Base(r.URL.Path)
	switch {
	case file == TSPlaylist:
		r = r.Clone(r.Context())
		r.URL.Path = path.Join(path.Dir(r.URL.Path), "index.m3u8")
		outputs = &s.ts
	case file == tsMediaPlaylist || strings.HasSuffix(file, ".ts"):
		outputs = &s.ts
	}
	src, err := s.relays.Demand(r.Context(), stream, r.URL.Query().Get("key"))
	if err != nil {
		return err
	}
	if s.sess != nil && strings.HasSuffix(file, ".m3u8") {
		switch sid := r.URL.Query().Get(sessionParam); {
		case sid == "" && (file == "index.m3u8" || file == TSPlaylist):
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, newSessionURL(r, file), http.StatusFound)
			return nil
		case validSession.MatchString(sid) && !s.sess.touch(sid, stream, r.RemoteAddr):
			http.Error(w, "this HLS session was ended", http.StatusForbidden)
			return nil
		}
	}
	if (file == "index.m3u8" || file == TSPlaylist) && (len(src.Renditions()) > 0 || len(s.rungs(src)) > 0) {
		return s.serveMaster(w, r, src, outputs, outputs == &s.ts)
	}
	m, err := outputs.Get(r.Context(), src)
	if err != nil {
		return err
	}
	m.handle(w, r)
	return nil
}

// tsMediaPlaylist is the media playlist gohlslib's MPEG-TS muxer lists (its one stream).
const tsMediaPlaylist = "main_stream.m3u8"

// Close stops every muxer and ends the sessions.
func (s *Server) Close() error {
	s.ll.Close()
	s.ts.Close()
	if s.sess != nil {
		s.sess.close()
	}
	return nil
}
