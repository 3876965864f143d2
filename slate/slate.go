// Package slate makes the offline slate: what a live path shows while its publisher is away
// past the grace window (relay.Standby). A slate is a short clip in the stream's own codecs,
// size and sound (so every viewer's decoder goes on as it was, and a returning publisher
// takes over cleanly), encoded by an ffmpeg process once per look and kept in memory, then
// played in a loop with timestamps that run on.
package slate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/vod"
)

// Card is the slate spec of the generated card ("Stream offline" on a dark picture, with
// silence); any other spec names a stored file (NAME.mp4) of the media library.
const Card = "card"

// ErrNoFFmpeg is why no slate plays on a machine without ffmpeg.
var ErrNoFFmpeg = errors.New("the offline slate needs ffmpeg, which is not on the PATH")

// Files is the media library a file slate comes from.
type Files interface {
	Open(file string) (*os.File, vod.Entry, error)
}

// Maker makes slates and keeps them. Its methods are safe for concurrent use.
type Maker struct {
	files  Files
	log    *slog.Logger
	ffmpeg string // its path; "": none
	mu     sync.Mutex
	kept   map[key]*made
}

// key is one slate in one look: the spec and the file's version, and the stream's format.
type key struct {
	spec    string
	created time.Time // the file's, with its size: a replaced file is made again
	size    int64
	look    look
}

// made is one slate clip; ready is closed once it is made or failed.
type made struct {
	ready chan struct{}
	clip  *vod.Clip
	err   error
}

// keep bounds the slates kept: one per look a server's streams have.
const keep = 16

// New returns a Maker using the ffmpeg on the PATH, if any, and files for file slates.
func New(files Files, log *slog.Logger) *Maker {
	m := &Maker{files: files, log: log, kept: map[key]*made{}}
	m.ffmpeg, _ = exec.LookPath("ffmpeg")
	return m
}

// Ready says whether slates can be made (ffmpeg is there).
func (m *Maker) Ready() bool { return m.ffmpeg != "" }

// Standby returns what plays spec on a stream whose publisher is away.
func (m *Maker) Standby(spec string) relay.Standby {
	return func(ctx context.Context, s *relay.Stream, pub *relay.Publisher) {
		log := m.log.With("path", s.Path(), "slate", spec)
		clip, err := m.clip(ctx, spec, lookOf(s.Tracks()))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("offline slate not played: the stream ends", "err", err)
			}
			return
		}
		log.Info("offline slate on")
		pl := &vod.Playlist{Path: s.Path(), Files: []string{clip.Name()}, Media: clip, Log: log}
		if err := pl.Play(ctx, pub); err != nil && !errors.Is(err, relay.ErrEnded) {
			log.Warn("offline slate stopped", "err", err)
		}
		log.Info("offline slate off")
	}
}

// clip returns spec's slate in look l, made at most once while it is kept.
func (m *Maker) clip(ctx context.Context, spec string, l look) (*vod.Clip, error) {
	if m.ffmpeg == "" {
		return nil, ErrNoFFmpeg
	}
	k := key{spec: spec, look: l}
	var src *os.File
	if spec != Card {
		f, e, err := m.files.Open(spec)
		if err != nil {
			return nil, fmt.Errorf("slate %s: %w", spec, err)
		}
		defer f.Close()
		src, k.created, k.size = f, e.Created, e.Size
	}
	m.mu.Lock()
	c := m.kept[k]
	if c == nil {
		c = &made{ready: make(chan struct{})}
		m.prune()
		m.kept[k] = c
		m.mu.Unlock()
		c.clip, c.err = m.make(ctx, spec, src, l)
		close(c.ready)
		if c.err != nil {
			m.mu.Lock()
			delete(m.kept, k) // the next stream to go offline tries again
			m.mu.Unlock()
		}
	} else {
		m.mu.Unlock()
	}
	select {
	case <-c.ready:
		return c.clip, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// prune forgets made slates past keep. The caller holds mu.
func (m *Maker) prune() {
	for k, c := range m.kept {
		if len(m.kept) < keep {
			return
		}
		select {
		case <-c.ready:
			delete(m.kept, k)
		default:
		}
	}
}

// make encodes spec's slate (from src for a file) in look l.
func (m *Maker) make(ctx context.Context, spec string, src *os.File, l look) (*vod.Clip, error) {
	dir, err := os.MkdirTemp("", "relaycast-slate-")
	if err != nil {
		return nil, fmt.Errorf("slate: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "slate.mp4")
	ctx, cancel := context.WithTimeout(ctx, makeTimeout)
	defer cancel()
	args := l.args(src != nil, true)
	err = m.run(ctx, src, append(args, out))
	if err != nil && src == nil {
		// drawtext needs a font; without one the card is colour bars, which say "off air" too
		err = m.run(ctx, nil, append(l.args(false, false), out))
	}
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("slate: %w", err)
	}
	clip, err := vod.NewClip("slate", data)
	if err != nil {
		return nil, fmt.Errorf("slate %s: %w", spec, err)
	}
	return clip, nil
}

// makeTimeout bounds one slate's encoding: a few seconds of a still picture.
const makeTimeout = time.Minute

func (m *Maker) run(ctx context.Context, src *os.File, args []string) error {
	cmd := exec.CommandContext(ctx, m.ffmpeg, args...)
	if src != nil {
		cmd.ExtraFiles = []*os.File{src} // fd 3: a seekable file (an MP4's index may be at its end)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("slate: ffmpeg: %v: %s", err, tail(stderr.Bytes()))
	}
	return nil
}

// tail is the end of ffmpeg's output, where it says what went wrong.
func tail(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > 400 {
		b = b[len(b)-400:]
	}
	return b
}
