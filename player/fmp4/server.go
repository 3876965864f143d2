// Package fmp4 delivers live streams to browsers as fragmented MP4 over one long HTTP
// response each (Media Source Extensions, ffmpeg, VLC): one muxer per stream makes the
// fragments once, and every browser gets the same bytes.
package fmp4

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// Relay is what the server needs from the relay.
type Relay interface {
	// Demand returns the stream at path for a viewer; a pulled path comes on demand, with
	// key passed on to its source.
	Demand(ctx context.Context, path, key string) (*relay.Stream, error)
}

// Config tunes fMP4 delivery.
type Config struct {
	// WriteTimeout drops a browser that takes no data for this long.
	WriteTimeout time.Duration
	// TrackWait bounds the wait for a stream that just went live to show its tracks.
	TrackWait time.Duration
	// MaxLag is how far behind the live edge a browser may fall before it skips to the next
	// keyframe (relay.Config.MaxLag).
	MaxLag time.Duration
	// Sessions is the book browsers are entered in; nil: one of the server's own.
	Sessions *session.Table
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{WriteTimeout: 15 * time.Second, TrackWait: 2 * time.Second, MaxLag: relay.DefaultConfig().MaxLag}
}

// Server muxes relay streams for browsers and streams the fragments.
type Server struct {
	cfg    Config
	relays Relay
	log    *slog.Logger
	muxers relay.Derive[*muxer] // the fragment streams, one per muxed relay stream
}

// New returns a server reading from relays.
func New(cfg Config, relays Relay, log *slog.Logger) *Server {
	if cfg.Sessions == nil {
		cfg.Sessions = &session.Table{}
	}
	s := &Server{cfg: cfg, relays: relays, log: log}
	s.muxers = relay.Derive[*muxer]{New: newStreamMuxer, TrackWait: cfg.TrackWait, MaxLag: cfg.MaxLag, Label: "http-fmp4", Log: log}
	return s
}

func newStreamMuxer(_ *relay.Stream, tracks []*relay.Track, out *relay.Publisher) (*muxer, error) {
	m := newMuxer(out)
	if err := m.setTracks(tracks); err != nil {
		return nil, err
	}
	return m, nil
}

// Close stops every muxer; browsers' responses end.
func (s *Server) Close() error {
	s.muxers.Close()
	return nil
}

// ServeMedia streams path to one browser: the init segment, then fragments from the latest
// keyframe on, as they are made. An error means the stream cannot be served and nothing was
// written.
func (s *Server) ServeMedia(w http.ResponseWriter, r *http.Request, path string) error {
	src, err := s.relays.Demand(r.Context(), path, r.URL.Query().Get("key"))
	if err != nil {
		return err
	}
	m, err := s.muxers.Get(r.Context(), src)
	if err != nil {
		return err
	}
	reader := m.Stream().NewReader()
	defer reader.Close()
	h := w.Header()
	h.Set("Content-Type", *m.Deriver.mime.Load())
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ctx, kick := context.WithCancelCause(r.Context())
	defer kick(nil)
	v := s.cfg.Sessions.Join(s.log, session.Info{Protocol: "web", Path: path, Remote: r.RemoteAddr, Transport: "fMP4"},
		reader.Dropped, func() { kick(session.ErrKicked) })
	err = s.sendFragments(ctx, w, rc, reader, v.Session)
	if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.Canceled) {
		err = cause
	}
	v.Leave(err)
	return nil
}

func (s *Server) sendFragments(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, reader *relay.Reader, sess *session.Session) error {
	var sent *relay.Track
	var deadlineAt time.Time
	for {
		f, err := reader.Next(ctx)
		if err != nil {
			return err
		}
		if now := time.Now(); now.Sub(deadlineAt) > time.Second {
			deadlineAt = now
			_ = rc.SetWriteDeadline(now.Add(s.cfg.WriteTimeout))
		}
		if err := writeFragment(w, f, &sent, sess); err != nil {
			return err
		}
		if !reader.Ready() {
			if err := rc.Flush(); err != nil {
				return err
			}
		}
	}
}

// writeFragment writes one shared fragment, preceded by its init segment if the browser does
// not have that one yet. It is the whole per-browser cost of a frame: no copy, no allocation.
func writeFragment(w http.ResponseWriter, f *relay.Frame, sent **relay.Track, sess *session.Session) error {
	if f.Track != *sent {
		*sent = f.Track
		n, err := w.Write(f.Track.Config)
		sess.AddOut(n)
		if err != nil {
			return err
		}
	}
	n, err := w.Write(f.Payload)
	sess.AddOut(n)
	return err
}

// Viewers returns how many browsers watch each path.
func (s *Server) Viewers() map[string]int { return s.cfg.Sessions.Readers("web") }
