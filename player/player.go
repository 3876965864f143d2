// Package player delivers live streams to browsers: one fMP4 muxer per stream whose fragments
// every browser shares, streamed over HTTP, and the embedded web pages that play them.
package player

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// Relay is what the player needs from the relay.
type Relay interface {
	Lookup(path string) (*relay.Stream, error)
}

// Config tunes browser delivery.
type Config struct {
	// WriteTimeout drops a browser that takes no data for this long.
	WriteTimeout time.Duration
	// TrackWait bounds the wait for a stream that just went live to show its tracks.
	TrackWait time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{WriteTimeout: 15 * time.Second, TrackWait: 2 * time.Second}
}

// Player muxes relay streams for browsers and serves them.
type Player struct {
	cfg     Config
	relays  Relay
	log     *slog.Logger
	derived *relay.Registry // the fMP4 fragment streams, one per muxed relay stream

	fmp4    perStream[*muxer]
	hls     perStream[*hlsMuxer]
	viewers relay.Viewers
}

// New returns a Player reading from relays.
func New(cfg Config, relays Relay, log *slog.Logger) *Player {
	dc := relay.DefaultConfig()
	dc.Grace = 0 // the source stream has the grace window; its fragments just follow it
	return &Player{
		cfg: cfg, relays: relays, log: log,
		derived: relay.NewRegistry(dc),
	}
}

// Close stops every muxer; browsers' streams end.
func (p *Player) Close() {
	p.fmp4.close()
	p.hls.close()
	p.derived.Close()
}

// muxerFor returns the fMP4 muxer of a live path, starting it on first use.
func (p *Player) muxerFor(ctx context.Context, path string) (*muxer, error) {
	return p.fmp4.get(ctx, p.relays, path, p.cfg.TrackWait, func(rs *relay.Stream, tracks []*relay.Track) (*muxer, error) {
		pub, err := p.derived.Publish(path)
		if err != nil {
			return nil, fmt.Errorf("player %s: %w", path, err)
		}
		m := newMuxer(rs, pub, p.log.With("path", path))
		if err := m.setTracks(tracks); err != nil {
			pub.Close()
			return nil, err
		}
		return m, nil
	})
}

// ServeHLS answers the LL-HLS requests of path: index.m3u8 and what it lists.
func (p *Player) ServeHLS(w http.ResponseWriter, r *http.Request, path string) {
	h, err := p.hls.get(r.Context(), p.relays, path, p.cfg.TrackWait, func(rs *relay.Stream, tracks []*relay.Track) (*hlsMuxer, error) {
		return newHLSMuxer(rs, tracks, p.log.With("path", path))
	})
	if err != nil {
		httpError(w, err)
		return
	}
	h.handle(w, r)
}

// ServeFMP4 streams path to one browser as fragmented MP4 over a single HTTP response: the
// init segment, then fragments from the latest keyframe on, as they are made. The bytes are
// the muxer's, shared by every browser.
func (p *Player) ServeFMP4(w http.ResponseWriter, r *http.Request, path string) {
	m, err := p.muxerFor(r.Context(), path)
	if err != nil {
		httpError(w, err)
		return
	}
	reader := m.out.Stream().NewReader()
	defer reader.Close()
	h := w.Header()
	h.Set("Content-Type", *m.mime.Load())
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	p.viewers.Add(path, 1)
	defer p.viewers.Add(path, -1)
	p.log.Info("viewer join", "path", path, "protocol", "http-fmp4", "remote", r.RemoteAddr)
	err = p.sendFragments(r.Context(), w, rc, reader)
	p.log.Info("viewer leave", "path", path, "protocol", "http-fmp4", "remote", r.RemoteAddr, "reason", reason(err))
}

func (p *Player) sendFragments(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, reader *relay.Reader) error {
	var sent *relay.Track
	var deadlineAt time.Time
	for {
		f, err := reader.Next(ctx)
		if err != nil {
			return err
		}
		if now := time.Now(); now.Sub(deadlineAt) > time.Second {
			deadlineAt = now
			_ = rc.SetWriteDeadline(now.Add(p.cfg.WriteTimeout))
		}
		if err := p.writeFragment(w, f, &sent); err != nil {
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
func (p *Player) writeFragment(w http.ResponseWriter, f *relay.Frame, sent **relay.Track) error {
	if f.Track != *sent {
		*sent = f.Track
		if _, err := w.Write(f.Track.Config); err != nil {
			return err
		}
	}
	_, err := w.Write(f.Payload)
	return err
}

func reason(err error) string {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return "viewer left"
	case errors.Is(err, relay.ErrEnded):
		return "stream ended"
	default:
		return err.Error()
	}
}

// httpError answers a request for a stream that cannot be served.
func httpError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, relay.ErrNotFound), errors.Is(err, relay.ErrInvalidPath), errors.Is(err, relay.ErrEnded):
		http.Error(w, "stream is not live", http.StatusNotFound)
	default:
		http.Error(w, "stream unavailable", http.StatusServiceUnavailable)
	}
}

// Viewers returns how many viewers each path has on this server.
func (p *Player) Viewers() map[string]int { return p.viewers.Viewers() }
