package srt

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
)

// clientTimeout bounds how long a pulled connection may send nothing before it is taken for
// dead (and a link reconnects).
const clientTimeout = 10 * time.Second

// Pull reads the MPEG-TS of the SRT listener at u (its streamid names the stream there,
// read:live/show as ffmpeg's srt:// URLs do) and writes its frames to out until the
// connection ends or ctx does: a link's pull of srt://.
func Pull(ctx context.Context, u *url.URL, out ingest.FrameWriter, log *slog.Logger) error {
	cfg := gosrt.DefaultConfig()
	addr, err := cfg.UnmarshalURL(u.String())
	if err != nil {
		return fmt.Errorf("srt pull: %w", err)
	}
	conn, err := gosrt.Dial("srt", addr, cfg)
	if err != nil {
		return fmt.Errorf("srt pull: %w", err)
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	_ = conn.SetReadDeadline(time.Now().Add(clientTimeout))
	x, err := ingest.NewMPEGTS(deadlined{conn}, out)
	if err != nil {
		return fmt.Errorf("srt pull: %w", err)
	}
	x.Live = true
	x.OnClockJump = ingest.LogClockJump(log)
	for {
		if err := x.Read(); err != nil {
			return fmt.Errorf("srt pull: %w", err)
		}
	}
}

// deadlined renews a connection's read deadline at every read.
type deadlined struct{ gosrt.Conn }

func (d deadlined) Read(b []byte) (int, error) {
	_ = d.Conn.SetReadDeadline(time.Now().Add(clientTimeout))
	return d.Conn.Read(b)
}

// Push sends stream as MPEG-TS to the SRT listener at u, its streamid (such as
// publish:live/show) naming it there, as ffmpeg's srt:// URLs do, from the latest keyframe
// until the stream, the connection or ctx ends: a link's push to srt://. live is called when
// the first frame is sent.
func Push(ctx context.Context, stream *relay.Stream, u *url.URL, live func()) error {
	cfg := gosrt.DefaultConfig()
	addr, err := cfg.UnmarshalURL(u.String())
	if err != nil {
		return fmt.Errorf("srt push: %w", err)
	}
	r := stream.NewReader()
	defer r.Close()
	tracks, err := stream.WaitTracks(ctx, relay.TrackSettle)
	if err != nil {
		return fmt.Errorf("srt push: %w", err)
	}
	ts, err := format.NewTSFramer(tracks)
	if err != nil {
		return fmt.Errorf("srt push: %w", err)
	}
	conn, err := gosrt.Dial("srt", addr, cfg)
	if err != nil {
		return fmt.Errorf("srt push: %w", err)
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	// A listener sends nothing back on a publishing connection; a read error means it hung
	// up, and closing the connection fails the next write at once.
	var drained sync.WaitGroup
	defer drained.Wait()
	defer conn.Close()
	drained.Go(func() {
		b := make([]byte, 1500)
		for {
			if _, err := conn.Read(b); err != nil {
				conn.Close()
				return
			}
		}
	})
	sent := false
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		b, err := ts.Frame(f)
		if err != nil {
			return fmt.Errorf("srt push: %w", err)
		}
		// gosrt queues what is written and fails when its queue is full: a target that far
		// behind is dropped and reconnected to.
		for ; len(b) > 0; b = b[min(len(b), payloadSize):] {
			if _, err := conn.Write(b[:min(len(b), payloadSize)]); err != nil {
				return fmt.Errorf("srt push: %w", err)
			}
		}
		if !sent {
			sent = true
			live()
		}
	}
}
