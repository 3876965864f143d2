package rtmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
)

// clientTimeout bounds how long a pulled connection may send nothing before it is taken for
// dead (and a link reconnects), and how long a publish may take to be answered.
const clientTimeout = 10 * time.Second

// errSourceEnded is a source's news that its stream ended (RTMP UnpublishNotify, StreamEOF).
var errSourceEnded = errors.New("the source's stream ended")

// enhancedFourCCs are the codecs a pull asks an RTMP server for besides H.264 and AAC.
var enhancedFourCCs = []string{"hvc1", "av01", "vp09", "Opus"}

// Pull plays the RTMP stream at u, asking for the enhanced codecs too, and writes its frames
// to out until the connection or the source's stream ends, or ctx does: a link's pull of
// rtmp:// or rtmps://.
func Pull(ctx context.Context, u *url.URL, out ingest.FrameWriter, log *slog.Logger) error {
	p, err := Play(ctx, u.String(), PlayOptions{FourCCs: enhancedFourCCs})
	if err != nil {
		return err
	}
	defer p.Close()
	defer context.AfterFunc(ctx, p.Close)()
	x := ingest.NewFLV(out)
	x.OnClockJump = ingest.LogClockJump(log)
	for {
		_ = p.Conn().SetReadDeadline(time.Now().Add(clientTimeout))
		m, err := p.Next()
		if err != nil {
			return fmt.Errorf("rtmp pull: %w", err)
		}
		switch m.Kind {
		case StatusMsg:
			switch {
			case m.Code == "NetStream.Play.UnpublishNotify":
				return errSourceEnded
			case m.Level == "error" || m.Code == "NetStream.Play.StreamNotFound" || m.Code == "NetStream.Play.Failed":
				return fmt.Errorf("rtmp pull: %s", m.Code)
			}
		case EOFMsg:
			return errSourceEnded
		case DataMsg:
			if bytes.HasPrefix(m.Body, []byte("\x02\x00\x0aonMetaData")) {
				x.Metadata(bytes.Clone(m.Body))
			}
		case VideoMsg:
			err = x.Video(m.Timestamp, m.Body)
		case AudioMsg:
			err = x.Audio(m.Timestamp, m.Body)
		}
		if err != nil && !errors.Is(err, ingest.ErrUnsupported) {
			return fmt.Errorf("rtmp pull: %w", err)
		}
	}
}

// Dial opens a publish at u (rtmp://HOST/APP/NAME?key=…), waiting at most clientTimeout for
// the server to take it.
func Dial(ctx context.Context, u *url.URL) (*Publisher, error) {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	return Publish(ctx, u.String(), nil)
}

// Send sends stream from its latest keyframe until the stream, the connection or ctx ends
// (the publication is then closed): a link's push to rtmp:// or rtmps://. live is called
// when the first frame is sent.
func (pub *Publisher) Send(ctx context.Context, stream *relay.Stream, live func()) error {
	defer pub.Close()
	defer context.AfterFunc(ctx, pub.Close)()
	// The server's acknowledgements and pings are read and dropped; a read error means the
	// target hung up, and closing the connection fails the next write at once.
	var drained sync.WaitGroup
	defer drained.Wait()
	defer pub.Close()
	drained.Go(func() {
		for {
			if _, err := pub.Next(); err != nil {
				pub.Close()
				return
			}
		}
	})
	r := stream.NewReader()
	defer r.Close()
	if meta := stream.Metadata(); meta != nil {
		if err := pub.WriteTag(18, 0, meta); err != nil {
			return fmt.Errorf("rtmp push: %w", err)
		}
	}
	var sentVideo, sentAudio *relay.Track
	started := false
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		ts := uint32(max(f.DTS, 0) / time.Millisecond)
		typ, sent := byte(8), &sentAudio
		if f.Track.Codec.IsVideo() {
			typ, sent = 9, &sentVideo
		}
		if *sent != f.Track {
			h, ok := format.FLVConfigHeader(f.Track)
			if !ok {
				continue
			}
			if err := pub.WriteTag(typ, ts, append(h, f.Track.Config...)); err != nil {
				return fmt.Errorf("rtmp push: %w", err)
			}
			*sent = f.Track
		}
		h, ok := format.FLVFrameHeader(make([]byte, 0, 8+len(f.Payload)), f)
		if !ok {
			continue
		}
		if err := pub.WriteTag(typ, ts, append(h, f.Payload...)); err != nil {
			return fmt.Errorf("rtmp push: %w", err)
		}
		if !started {
			started = true
			live()
		}
	}
}
