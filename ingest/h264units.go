package ingest

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// h264Units turns H.264 access units that arrive as NAL units (RTP, MPEG-TS) into frames:
// SPS and PPS go to the track rather than into frames, and the stream starts, and after a
// loss starts again, at an IDR picture.
type h264Units struct {
	out      FrameWriter
	what     string // names the input in errors: "rtp h264"
	track    *relay.Track
	sps, pps []byte
	needKey  bool // after a loss: until the next IDR
	// Lost counts access units skipped after a loss or a decoding error.
	Lost int
}

// setParams makes the track of sps and pps; changed says whether they differ from before.
func (x *h264Units) setParams(sps, pps []byte) (changed bool, err error) {
	if bytes.Equal(sps, x.sps) && bytes.Equal(pps, x.pps) && x.track != nil {
		return false, nil
	}
	t, err := codec.H264Params(sps, pps)
	if err != nil {
		return false, err
	}
	x.track, x.sps, x.pps = t, bytes.Clone(sps), bytes.Clone(pps)
	x.needKey = true
	return true, nil
}

// prepare returns the AVCC payload of au without its parameter sets and delimiters, whether
// it is a keyframe and whether it brought new parameter sets. A nil payload means the unit
// is skipped: no track yet, nothing but parameter sets, or waiting for an IDR.
func (x *h264Units) prepare(au [][]byte) (payload []byte, key, newParams bool, err error) {
	var sps, pps []byte
	payload = make([]byte, 0, auSize(au))
	for _, nalu := range au {
		if len(nalu) == 0 {
			continue
		}
		switch h264.NALUType(nalu[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = nalu
			continue
		case h264.NALUTypePPS:
			pps = nalu
			continue
		case h264.NALUTypeAccessUnitDelimiter:
			continue
		}
		payload = append(payload, byte(len(nalu)>>24), byte(len(nalu)>>16), byte(len(nalu)>>8), byte(len(nalu)))
		payload = append(payload, nalu...)
	}
	if sps != nil && pps != nil {
		if newParams, err = x.setParams(sps, pps); err != nil {
			return nil, false, false, fmt.Errorf("%s: %w", x.what, err)
		}
	}
	key = h264.IsRandomAccess(au)
	if x.track == nil || len(payload) == 0 || x.needKey && !key {
		if x.track != nil && len(payload) > 0 {
			x.Lost++
		}
		return nil, key, newParams, nil
	}
	if key {
		x.needKey = false
	}
	return payload, key, newParams, nil
}

// write hands out one frame; dts and pts are in the 90 kHz clock.
func (x *h264Units) write(payload []byte, key bool, dts, pts int64) error {
	f := &relay.Frame{Track: x.track, DTS: clockTime(dts, 90000), PTS: clockTime(pts, 90000), Key: key, Payload: payload}
	if err := x.out.WriteFrame(f); err != nil {
		return fmt.Errorf("%s: %w", x.what, err)
	}
	return nil
}

func auSize(au [][]byte) int {
	n := 0
	for _, nalu := range au {
		n += 4 + len(nalu)
	}
	return n
}
