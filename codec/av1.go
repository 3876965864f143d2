package codec

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

	"github.com/relaycast/relaycast/relay"
)

// AV1Config is a parsed AV1CodecConfigurationRecord (av1C, AV1 in ISO BMFF 2.3.3) with the
// sequence header it carries.
type AV1Config struct {
	Profile, Level byte
	HighTier       bool
	BitDepth       int
	// SequenceHeader is the sequence header OBU, with its header and size field.
	SequenceHeader []byte
	Width, Height  int
}

// ParseAV1Config parses an av1C record whose configOBUs hold a sequence header.
func ParseAV1Config(b []byte) (AV1Config, error) {
	var c AV1Config
	if len(b) < 4 {
		return c, fmt.Errorf("av1 config: %w (%d bytes)", ErrShort, len(b))
	}
	if b[0] != 0x81 {
		return c, fmt.Errorf("av1 config: marker and version %#x, want 0x81", b[0])
	}
	var obus av1.Bitstream
	if err := obus.Unmarshal(b[4:]); err != nil {
		return c, fmt.Errorf("av1 config: %w", err)
	}
	for _, obu := range obus {
		if len(obu) > 0 && av1.OBUType(obu[0]>>3&0x0f) == av1.OBUTypeSequenceHeader {
			return parseSequenceHeader(obu)
		}
	}
	return c, errors.New("av1 config: no sequence header")
}

// parseSequenceHeader reads a sequence header OBU (without a size field, as Bitstream
// gives it).
func parseSequenceHeader(obu []byte) (AV1Config, error) {
	var c AV1Config
	var h av1.SequenceHeader
	if err := h.Unmarshal(obu); err != nil {
		return c, fmt.Errorf("av1 sequence header: %w", err)
	}
	if len(h.SeqLevelIdx) == 0 || len(h.SeqTier) == 0 {
		return c, errors.New("av1 sequence header: no operating point")
	}
	withSize, err := av1.Bitstream{obu}.Marshal()
	if err != nil {
		return c, fmt.Errorf("av1 sequence header: %w", err)
	}
	c.Profile, c.Level, c.HighTier = h.SeqProfile, h.SeqLevelIdx[0], h.SeqTier[0]
	c.BitDepth = max(8, h.ColorConfig.BitDepth)
	c.SequenceHeader, c.Width, c.Height = withSize, h.Width(), h.Height()
	return c, nil
}

// CodecString returns the RFC 6381 codecs string, e.g. av01.0.08M.08.
func (c AV1Config) CodecString() string {
	tier := 'M'
	if c.HighTier {
		tier = 'H'
	}
	return fmt.Sprintf("av01.%d.%02d%c.%02d", c.Profile, c.Level, tier, c.BitDepth)
}

// AV1Track makes the relay track an av1C record describes. The record is copied.
func AV1Track(record []byte) (*relay.Track, error) {
	c, err := ParseAV1Config(record)
	if err != nil {
		return nil, err
	}
	return &relay.Track{Codec: relay.CodecAV1, ClockRate: 90000, Config: bytes.Clone(record), Width: c.Width, Height: c.Height}, nil
}

// AV1Params makes the relay track of an AV1 stream from its sequence header OBU (in-band,
// as Bitstream gives it: header, no size field), with the av1C record built from it.
func AV1Params(seqHeader []byte) (*relay.Track, error) {
	c, err := parseSequenceHeader(seqHeader)
	if err != nil {
		return nil, err
	}
	var h av1.SequenceHeader
	_ = h.Unmarshal(seqHeader) // parsed above
	cc := h.ColorConfig
	rec := []byte{0x81, c.Profile<<5 | c.Level&0x1f,
		b2u(c.HighTier)<<7 | b2u(cc.HighBitDepth)<<6 | b2u(cc.TwelveBit)<<5 | b2u(cc.MonoChrome)<<4 |
			b2u(cc.SubsamplingX)<<3 | b2u(cc.SubsamplingY)<<2 | byte(cc.ChromaSamplePosition)&3,
		0}
	rec = append(rec, c.SequenceHeader...)
	return AV1Track(rec)
}

// AV1Units splits a temporal unit's OBUs (low overhead format, with size fields) for
// outputs that take them one by one (RTP, HLS): each a copy, with its size field taken out.
func AV1Units(payload []byte) ([][]byte, error) {
	var bs av1.Bitstream
	if err := bs.Unmarshal(payload); err != nil {
		return nil, fmt.Errorf("av1: %w", err)
	}
	return bs, nil
}
