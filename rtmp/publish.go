package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
)

// publishSession feeds one publisher's audio and video messages to the relay.
type publishSession struct {
	pub    *relay.Publisher
	ingest *ingest.FLV
	log    *slog.Logger
	// go-rtmp lends each message body as a reader over its own buffer; scratch takes it in
	// so ingest can copy it once, at its exact size, into the frame.
	scratch             bytes.Buffer
	frames              int
	warnedVideo, warned bool
	closed              bool
}

func newPublishSession(pub *relay.Publisher, log *slog.Logger) *publishSession {
	x := ingest.NewFLV(pub)
	x.OnClockJump = ingest.LogClockJump(log)
	return &publishSession{pub: pub, ingest: x, log: log}
}

func (p *publishSession) video(ts uint32, body io.Reader) error {
	return p.tag(ts, body, p.ingest.Video, &p.warnedVideo)
}

func (p *publishSession) audio(ts uint32, body io.Reader) error {
	return p.tag(ts, body, p.ingest.Audio, &p.warned)
}

func (p *publishSession) tag(ts uint32, body io.Reader, feed func(uint32, []byte) error, warned *bool) error {
	if p.closed {
		return nil
	}
	p.scratch.Reset()
	if _, err := p.scratch.ReadFrom(body); err != nil {
		return fmt.Errorf("rtmp publish %s: %w", p.pub.Stream().Path(), err)
	}
	err := feed(ts, p.scratch.Bytes())
	switch {
	case err == nil:
		p.frames++
		return nil
	case errors.Is(err, ingest.ErrUnsupported):
		// Keep the tracks we can relay; say once what we leave out.
		if !*warned {
			*warned = true
			p.log.Warn("skipping unsupported track", "err", err)
		}
		return nil
	default:
		return fmt.Errorf("rtmp publish %s: %w", p.pub.Stream().Path(), err)
	}
}

func (p *publishSession) metadata(body []byte) {
	if !p.closed {
		p.ingest.Metadata(body)
	}
}

// close ends the publish; it reports whether this call did.
func (p *publishSession) close() bool {
	if p.closed {
		return false
	}
	p.closed = true
	p.pub.Close()
	return true
}
