package ingest

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// nalCodec is what nalUnits needs to know of a codec whose pictures are NAL units.
type nalCodec struct {
	// param gives the index of a parameter set among the codec's (H.264: SPS 0, PPS 1;
	// H.265: VPS 0, SPS 1, PPS 2), or -1; drop says a unit frames never carry (AUDs).
	param        func(nalu []byte) int
	drop         func(nalu []byte) bool
	randomAccess func(au [][]byte) bool
	track        func(params [][]byte) (*relay.Track, error)
	params       int
}

var (
	h264NAL = nalCodec{
		param: func(n []byte) int {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				return 0
			case h264.NALUTypePPS:
				return 1
			}
			return -1
		},
		drop:         func(n []byte) bool { return h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter },
		randomAccess: h264.IsRandomAccess,
		track:        func(p [][]byte) (*relay.Track, error) { return codec.H264Params(p[0], p[1]) },
		params:       2,
	}
	h265NAL = nalCodec{
		param: func(n []byte) int {
			switch t := h265.NALUType(n[0] >> 1 & 0x3f); t {
			case h265.NALUType_VPS_NUT, h265.NALUType_SPS_NUT, h265.NALUType_PPS_NUT:
				return int(t - h265.NALUType_VPS_NUT)
			}
			return -1
		},
		drop:         func(n []byte) bool { return h265.NALUType(n[0]>>1&0x3f) == h265.NALUType_AUD_NUT || len(n) < 2 },
		randomAccess: h265.IsRandomAccess,
		track:        func(p [][]byte) (*relay.Track, error) { return codec.H265Params(p[0], p[1], p[2]) },
		params:       3,
	}
)

// nalUnits turns access units that arrive as NAL units (RTP, MPEG-TS) into frames: the
// parameter sets go to the track rather than into frames, and the stream starts, and after
// a loss starts again, at a random access picture.
type nalUnits struct {
	kind    nalCodec
	out     FrameWriter
	what    string // names the input in errors: "rtp h264"
	track   *relay.Track
	params  [][]byte // the track's
	needKey bool     // after a loss: until the next random access picture
	// Lost counts access units skipped after a loss or a decoding error.
	Lost int
}

func newNALUnits(kind nalCodec, out FrameWriter, what string) *nalUnits {
	return &nalUnits{kind: kind, out: out, what: what, params: make([][]byte, kind.params)}
}

// setParams makes the track of params; changed says whether they differ from before.
func (x *nalUnits) setParams(params [][]byte) (changed bool, err error) {
	if x.track != nil && slices.EqualFunc(params, x.params, bytes.Equal) {
		return false, nil
	}
	t, err := x.kind.track(params)
	if err != nil {
		return false, err
	}
	x.track, x.needKey = t, true
	for i, p := range params {
		x.params[i] = bytes.Clone(p)
	}
	return true, nil
}

// prepare is split, then admit: a nil payload means the unit is skipped (no track yet,
// nothing but parameter sets, or waiting for a random access picture).
func (x *nalUnits) prepare(au [][]byte) (payload []byte, key, newParams bool, err error) {
	payload, key, newParams, err = x.split(au)
	if payload == nil || !x.admit(key) {
		return nil, key, newParams, err
	}
	return payload, key, newParams, nil
}

// split returns the length-prefixed payload of au without its parameter sets and
// delimiters, whether it is a random access picture and whether it brought new parameter
// sets. A nil payload means there is nothing to send: no track yet, or nothing but
// parameter sets.
func (x *nalUnits) split(au [][]byte) (payload []byte, key, newParams bool, err error) {
	var params [3][]byte
	found := 0
	payload = make([]byte, 0, auSize(au))
	for _, nalu := range au {
		if len(nalu) == 0 || x.kind.drop(nalu) {
			continue
		}
		if i := x.kind.param(nalu); i >= 0 {
			if params[i] == nil {
				found++
			}
			params[i] = nalu
			continue
		}
		payload = append(payload, byte(len(nalu)>>24), byte(len(nalu)>>16), byte(len(nalu)>>8), byte(len(nalu)))
		payload = append(payload, nalu...)
	}
	if found == x.kind.params {
		if newParams, err = x.setParams(params[:found]); err != nil {
			return nil, false, false, fmt.Errorf("%s: %w", x.what, err)
		}
	}
	key = x.kind.randomAccess(au)
	if x.track == nil || len(payload) == 0 {
		return nil, key, newParams, nil
	}
	return payload, key, newParams, nil
}

// admit reports whether a picture goes out: not while waiting for a random access picture
// after a loss.
func (x *nalUnits) admit(key bool) bool {
	if x.needKey && !key {
		x.Lost++
		return false
	}
	x.needKey = x.needKey && !key
	return true
}

// write hands out one frame; dts and pts are in the 90 kHz clock.
func (x *nalUnits) write(payload []byte, key bool, dts, pts int64) error {
	f := &relay.Frame{Track: x.track, DTS: codec.Duration(dts, 90000), PTS: codec.Duration(pts, 90000), Key: key, Payload: payload}
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
