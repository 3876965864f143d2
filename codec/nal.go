package codec

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/relaycast/relaycast/relay"
)

// nalKind tells the NAL units of one codec apart: parameter sets, and random access
// pictures that decoders can start from.
type nalKind struct {
	isParams       func(nalu []byte) bool
	isRandomAccess func(nalu []byte) bool
}

var (
	h264Kind = nalKind{
		isParams:       func(n []byte) bool { t := n[0] & 0x1f; return t == naluSPS || t == naluPPS },
		isRandomAccess: func(n []byte) bool { return n[0]&0x1f == naluIDR },
	}
	h265Kind = nalKind{
		isParams: func(n []byte) bool { t := n[0] >> 1 & 0x3f; return t >= h265VPS && t <= h265PPS },
		isRandomAccess: func(n []byte) bool {
			switch h265.NALUType(n[0] >> 1 & 0x3f) {
			case h265.NALUType_IDR_W_RADL, h265.NALUType_IDR_N_LP, h265.NALUType_CRA_NUT:
				return true
			}
			return false
		},
	}
)

// nalConfig is what outputs that send NAL units need of a video track: the size of the
// length prefixes and the parameter sets to put in front of a random access picture.
type nalConfig struct {
	lengthSize int
	params     [][]byte
	kind       nalKind
}

// NALConfig is the configuration of an H.264 or H.265 track as outputs that send NAL units
// (RTP, MPEG-TS) need it.
type NALConfig struct{ nalConfig }

// ParseNALConfig reads the configuration of an H.264 or H.265 track.
func ParseNALConfig(t *relay.Track) (NALConfig, error) {
	switch t.Codec {
	case relay.CodecH264:
		c, err := ParseH264Config(t.Config)
		if err != nil {
			return NALConfig{}, err
		}
		return NALConfig{nalConfig{c.LengthSize, [][]byte{c.SPS[0], c.PPS[0]}, h264Kind}}, nil
	case relay.CodecH265:
		c, err := ParseH265Config(t.Config)
		if err != nil {
			return NALConfig{}, err
		}
		return NALConfig{nalConfig{c.LengthSize, [][]byte{c.VPS[0], c.SPS[0], c.PPS[0]}, h265Kind}}, nil
	}
	return NALConfig{}, fmt.Errorf("%s: not a codec of NAL units", t.Codec)
}

// LengthSize is the size of the NAL unit length prefixes of the track's payloads.
func (c NALConfig) LengthSize() int { return c.lengthSize }

// RandomAccess reports whether a payload holds a picture decoding can start from (an
// H.264 IDR; an H.265 IDR or CRA), whatever its container said.
func (c NALConfig) RandomAccess(payload []byte) bool {
	for b := payload; len(b) > 0; {
		nalu, rest, err := nextNALU(b, c.lengthSize)
		if err != nil {
			return false
		}
		if c.kind.isRandomAccess(nalu) {
			return true
		}
		b = rest
	}
	return false
}

// Params returns the parameter sets: SPS and PPS for H.264; VPS, SPS and PPS for H.265.
func (c NALConfig) Params() [][]byte { return c.params }

// AccessUnit appends the NAL units of a length-prefixed payload to nalus, aliasing
// payload; a random access picture without parameter sets of its own gets the track's in
// front.
func (c NALConfig) AccessUnit(nalus [][]byte, payload []byte) ([][]byte, error) {
	return c.accessUnit(nalus, payload)
}

// accessUnit appends the NAL units of payload to nalus, aliasing payload; a random access
// picture without parameter sets of its own gets the config's in front, so decoders that
// join there, or that never saw the out-of-band config, can start.
func (c nalConfig) accessUnit(nalus [][]byte, payload []byte) ([][]byte, error) {
	start := len(nalus)
	hasParams, random := false, false
	for b := payload; len(b) > 0; {
		nalu, rest, err := nextNALU(b, c.lengthSize)
		if err != nil {
			return nalus, err
		}
		hasParams = hasParams || c.kind.isParams(nalu)
		random = random || c.kind.isRandomAccess(nalu)
		nalus, b = append(nalus, nalu), rest
	}
	if random && !hasParams {
		n := len(c.params)
		nalus = append(nalus, c.params...)
		copy(nalus[start+n:], nalus[start:len(nalus)-n])
		copy(nalus[start:], c.params)
	}
	return nalus, nil
}
