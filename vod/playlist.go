package vod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// Publisher is what a playlist needs from the live relay.
type Publisher interface {
	Publish(path string) (*relay.Publisher, error)
}

// Playlist broadcasts stored files as a live stream, one after the other (Darwin's playlist
// broadcaster): viewers join it like any live path, with its GOP cache, on every protocol,
// and its timestamps run on across files.
type Playlist struct {
	Path  string   // the live path
	Files []string // media names, played in order
	Once  bool     // stop after the last file instead of starting again
	Media Source   // where the files are: the library, or a clip in memory (the demo)
	Log   *slog.Logger
}

// retryAfter is how long a playlist none of whose files plays waits before it tries again.
const retryAfter = 5 * time.Second

// Run publishes the playlist until ctx ends (or, with Once, until its last file ends).
func (p *Playlist) Run(ctx context.Context, relays Publisher) error {
	pub, err := relays.Publish(p.Path)
	if err != nil {
		return fmt.Errorf("playlist %s: %w", p.Path, err)
	}
	defer pub.Close()
	pub.SetProtocol("playlist")
	p.Log.Info("playlist live", "path", p.Path, "files", len(p.Files))
	if err := p.Play(ctx, pub); !errors.Is(err, relay.ErrEnded) {
		return err
	}
	p.Log.Info("playlist over: its stream was ended", "path", p.Path) // the server closing
	return nil
}

// Play plays the playlist on pub until ctx ends, a write fails (another publisher took the
// stream over), or, with Once, its last file ends.
func (p *Playlist) Play(ctx context.Context, pub *relay.Publisher) error {
	var shift time.Duration // stream time of the current file's start
	for {
		played := 0
		for _, name := range p.Files {
			n, err := p.play(ctx, pub, name, &shift)
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, relay.ErrEnded) {
				return err
			}
			if err != nil {
				p.Log.Warn("playlist: file skipped", "path", p.Path, "name", name, "err", err)
			}
			played += n
		}
		if p.Once {
			return nil
		}
		if played == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(retryAfter):
			}
		}
	}
}

// play broadcasts one file at stream time *shift, and moves *shift to its end. It reports 1
// if the file played.
func (p *Playlist) play(ctx context.Context, pub *relay.Publisher, name string, shift *time.Duration) (int, error) {
	f, closer, ix, err := p.Media.open(name)
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(ix.Samples) == 0 {
		return 0, errors.New("no samples")
	}
	end, err := pace(ctx, ix, f, pub.WriteFrame, 0, *shift, 0, nil) // live: viewers that lag skip, as on any live path
	if err != nil {
		return 0, err
	}
	*shift += ix.Duration - ix.Samples[ix.KeyframeBefore(0)].DTS
	// The file's last frames last until its end: the next file starts then, not at once.
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(end)):
	}
	return 1, nil
}
