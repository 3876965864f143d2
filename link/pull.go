package link

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
	"github.com/relaycast/relaycast/rtsp"
	"github.com/relaycast/relaycast/srt"
)

// pull connects to u and writes what it sends to out until the connection ends; it returns
// nil only when ctx ended.
func pull(ctx context.Context, u *url.URL, out ingest.FrameWriter, log *slog.Logger) error {
	var err error
	switch u.Scheme {
	case "rtmp", "rtmps":
		err = rtmp.Pull(ctx, u, out, log)
	case "rtsp", "rtsps":
		err = rtsp.Pull(ctx, u, out, log)
	case "srt":
		err = srt.Pull(ctx, u, out, log)
	case "http", "https":
		err = ingest.PullHLS(ctx, u, out, log)
	default:
		err = fmt.Errorf("%s: pulls are rtmp://, rtmps://, rtsp://, rtsps://, srt:// or http(s)://…/index.m3u8", u.Scheme)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// lazyPublisher publishes on a path at the first frame a source sends, so a source that
// answers with nothing leaves the path free (and its viewers waiting for another origin).
type lazyPublisher struct {
	open func() (*relay.Publisher, error)
	pub  *relay.Publisher
	err  error
	meta []byte
}

func (l *lazyPublisher) WriteFrame(f *relay.Frame) error {
	if l.pub == nil && l.err == nil {
		l.pub, l.err = l.open()
		if l.pub != nil && l.meta != nil {
			l.pub.SetMetadata(l.meta)
		}
	}
	if l.err != nil {
		return l.err
	}
	return l.pub.WriteFrame(f)
}

func (l *lazyPublisher) SetMetadata(b []byte) {
	if l.pub != nil {
		l.pub.SetMetadata(b)
		return
	}
	l.meta = b
}

// close ends the publish, if it began, and reports whether it did.
func (l *lazyPublisher) close() bool {
	if l.pub == nil {
		return false
	}
	l.pub.Close()
	return true
}
