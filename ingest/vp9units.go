package ingest

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// vp9Units turns VP9 frames into relay frames: the track comes from the keyframes' headers
// (and changes with them), and the stream starts, and after a loss starts again, at a
// keyframe.
type vp9Units struct {
	out     FrameWriter
	what    string
	track   *relay.Track
	needKey bool
}

// write hands out one frame presented at pts (90 kHz); VP9 has no reordering a container
// sees.
func (x *vp9Units) write(frame []byte, pts int64) error {
	if len(frame) == 0 {
		return nil
	}
	key := vp9.IsRandomAccess(frame)
	if key {
		t, err := codec.VP9Params(frame)
		if err != nil {
			return fmt.Errorf("%s: %w", x.what, err)
		}
		if x.track == nil || !bytes.Equal(t.Config, x.track.Config) || t.Width != x.track.Width || t.Height != x.track.Height {
			x.track = t
		}
	}
	if x.track == nil || x.needKey && !key {
		return nil
	}
	x.needKey = false
	at := codec.Duration(pts, 90000)
	if err := x.out.WriteFrame(&relay.Frame{Track: x.track, DTS: at, PTS: at, Key: key, Payload: bytes.Clone(frame)}); err != nil {
		return fmt.Errorf("%s: %w", x.what, err)
	}
	return nil
}
