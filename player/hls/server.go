// Package hls delivers live streams as Low-Latency HLS (Safari and iOS, hls.js, VLC, ffmpeg,
// HTTP caches): one gohlslib muxer per stream cuts segments and parts in memory and answers
// every client's playlist and media requests.
package hls

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/relaycast/relaycast/relay"
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
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{TrackWait: 2 * time.Second} }

// Server muxes relay streams into LL-HLS and answers HLS requests.
type Server struct {
	relays Relay
	log    *slog.Logger
	muxers relay.Outputs[*muxer]
}

// New returns a server reading from relays.
func New(cfg Config, relays Relay, log *slog.Logger) *Server {
	s := &Server{relays: relays, log: log}
	s.muxers = relay.Outputs[*muxer]{
		New: func(src *relay.Stream, tracks []*relay.Track) (*muxer, error) {
			return newMuxer(src, tracks, log.With("path", src.Path()))
		},
		TrackWait: cfg.TrackWait, Label: "http-hls",
	}
	return s
}

// ServeMedia answers one request for a file of path's LL-HLS (index.m3u8 and what it
// lists). An error means the stream cannot be served and nothing was written.
func (s *Server) ServeMedia(w http.ResponseWriter, r *http.Request, path string) error {
	src, err := s.relays.Demand(r.Context(), path, r.URL.Query().Get("key"))
	if err != nil {
		return err
	}
	m, err := s.muxers.Get(r.Context(), src)
	if err != nil {
		return err
	}
	m.handle(w, r)
	return nil
}

// Close stops every muxer.
func (s *Server) Close() error {
	s.muxers.Close()
	return nil
}
