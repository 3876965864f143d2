package rtmp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// Publisher is a connection publishing one stream.
type Publisher struct {
	Player // the same connection set-up; Next is not used
}

// Publish connects to rawURL (rtmp://host:port/app/name, or rtmps://) and starts
// publishing; tc configures TLS (nil: the defaults).
func Publish(ctx context.Context, rawURL string, tc *tls.Config) (*Publisher, error) {
	u, app, name, err := target(rawURL, "publish")
	if err != nil {
		return nil, err
	}
	nc, err := dial(ctx, u, tc)
	if err != nil {
		return nil, fmt.Errorf("rtmp publish %s: %w", withoutQuery(rawURL), err)
	}
	p := &Publisher{Player{nc: nc}}
	p.life, p.endLife = context.WithCancel(context.Background())
	if err := p.startPublish(app, name, rawURL); err != nil {
		p.Close()
		return nil, fmt.Errorf("rtmp publish %s: %w", withoutQuery(rawURL), err)
	}
	return p, nil
}

func (p *Publisher) startPublish(app, name, rawURL string) error {
	_ = p.nc.SetDeadline(time.Now().Add(10 * time.Second))
	defer p.nc.SetDeadline(time.Time{})
	// Chunks stay at the default 128 bytes: go-rtmp gives no safe moment to change the size
	// under its writer goroutine, and one publisher's extra headers cost nothing to speak of.
	if err := p.connect(rawURL, map[string]interface{}{"app": app, "type": "nonprivate", "flashVer": "FMLE/3.0"}); err != nil {
		return err
	}
	if err := p.command(p.streamID, 8, "publish", 0, nil, name, "live"); err != nil {
		return err
	}
	for {
		m, err := p.Next()
		if err != nil {
			return err
		}
		if m.Kind == StatusMsg {
			if m.Code != "NetStream.Publish.Start" {
				return fmt.Errorf("%w: %s %s", ErrRefused, m.Code, m.Text)
			}
			return nil
		}
	}
}

// ErrRefused is returned by Publish when the server answered the publish with an error
// status (a wrong key, a path taken).
var ErrRefused = errors.New("publish refused")

// WriteTag sends one FLV tag body (typ 8 audio, 9 video, 18 script data) with its timestamp.
func (p *Publisher) WriteTag(typ byte, ts uint32, body []byte) error {
	var msg message.Message
	csid := 6
	switch typ {
	case 8:
		msg, csid = &message.AudioMessage{Payload: bytes.NewReader(body)}, 4
	case 9:
		msg = &message.VideoMessage{Payload: bytes.NewReader(body)}
	default:
		msg, csid = &message.DataMessage{Name: "@setDataFrame", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(body)}, 5
	}
	ctx, cancel := context.WithTimeout(p.life, 5*time.Second)
	defer cancel()
	return p.cs.Write(ctx, csid, ts, &gortmp.ChunkMessage{StreamID: p.streamID, Message: msg})
}

// withoutQuery is a URL for an error message: its query may hold a stream key.
func withoutQuery(rawURL string) string {
	u, _, _ := strings.Cut(rawURL, "?")
	return u
}
