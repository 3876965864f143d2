package codec

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"

	"github.com/relaycast/relaycast/relay"
)

// VP9Config is a parsed VPCodecConfigurationRecord (vpcC, version 1, "VP Codec ISO Media File
// Format Binding" 2.2), as relay tracks carry it: the FullBox version and flags, then the
// fields.
type VP9Config struct {
	Profile, Level, BitDepth, ChromaSubsampling byte
	FullRange                                   bool
}

// ParseVP9Config parses a vpcC record.
func ParseVP9Config(b []byte) (VP9Config, error) {
	var c VP9Config
	if len(b) < 12 {
		return c, fmt.Errorf("vp9 config: %w (%d bytes)", ErrShort, len(b))
	}
	if b[0] != 1 {
		return c, fmt.Errorf("vp9 config: version %d, want 1", b[0])
	}
	c.Profile, c.Level = b[4], b[5]
	c.BitDepth, c.ChromaSubsampling, c.FullRange = b[6]>>4, b[6]>>1&7, b[6]&1 == 1
	if c.BitDepth != 8 && c.BitDepth != 10 && c.BitDepth != 12 {
		return c, fmt.Errorf("vp9 config: bit depth %d", c.BitDepth)
	}
	return c, nil
}

// CodecString returns the RFC 6381 codecs string, e.g. vp09.00.31.08.
func (c VP9Config) CodecString() string {
	return fmt.Sprintf("vp09.%02d.%02d.%02d", c.Profile, c.Level, c.BitDepth)
}

// VP9Params makes the relay track of a VP9 stream from a keyframe, whose header has
// everything a vpcC says (and the picture size, which it does not).
func VP9Params(keyframe []byte) (*relay.Track, error) {
	var h vp9.Header
	if err := h.Unmarshal(keyframe); err != nil {
		return nil, fmt.Errorf("vp9 frame header: %w", err)
	}
	if h.NonKeyFrame || h.ColorConfig == nil || h.FrameSize == nil {
		return nil, errors.New("vp9: not a keyframe")
	}
	w, hgt := h.Width(), h.Height()
	level := byte(31) // up to 1280x720 at 30 fps
	switch px := w * hgt; {
	case px > 2048*1088:
		level = 51
	case px > 1280*720:
		level = 41
	}
	cc := h.ColorConfig
	rec := []byte{1, 0, 0, 0, h.Profile, level, cc.BitDepth<<4 | h.ChromaSubsampling()<<1 | b2u(cc.ColorRange), 2, 2, 2, 0, 0}
	return &relay.Track{Codec: relay.CodecVP9, ClockRate: 90000, Config: rec, Width: w, Height: hgt}, nil
}
