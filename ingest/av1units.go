package ingest

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// av1Units turns AV1 temporal units, as lists of OBUs, into frames: the track comes from
// the in-band sequence header (and changes with it), temporal delimiters are dropped (frames
// hold what an MP4 sample holds), and the stream starts, and after a loss starts again, at a
// temporal unit with a sequence header.
type av1Units struct {
	out     FrameWriter
	what    string
	track   *relay.Track
	header  []byte // the track's sequence header OBU
	needKey bool
}

// write hands out the temporal unit tu, presented at pts (90 kHz). AV1 has no B-frame
// reordering that a container sees: DTS is PTS.
func (x *av1Units) write(tu [][]byte, pts int64) error {
	kept, key := make([][]byte, 0, len(tu)), false
	for _, obu := range tu {
		if len(obu) == 0 {
			continue
		}
		switch av1.OBUType(obu[0] >> 3 & 0x0f) {
		case av1.OBUTypeTemporalDelimiter:
			continue
		case av1.OBUTypeSequenceHeader:
			key = true
			if !bytes.Equal(obu, x.header) {
				t, err := codec.AV1Params(obu)
				if err != nil {
					return fmt.Errorf("%s: %w", x.what, err)
				}
				x.track, x.header = t, bytes.Clone(obu)
			}
		}
		kept = append(kept, obu)
	}
	if x.track == nil || len(kept) == 0 || x.needKey && !key {
		return nil
	}
	x.needKey = false
	payload, err := av1.Bitstream(kept).Marshal()
	if err != nil {
		return fmt.Errorf("%s: %w", x.what, err)
	}
	t := codec.Duration(pts, 90000)
	if err := x.out.WriteFrame(&relay.Frame{Track: x.track, DTS: t, PTS: t, Key: key, Payload: payload}); err != nil {
		return fmt.Errorf("%s: %w", x.what, err)
	}
	return nil
}
