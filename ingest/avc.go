package ingest

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// AVCConfig is a parsed AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1).
type AVCConfig struct {
	Profile, Compatibility, Level byte
	LengthSize                    int // bytes in each NAL unit length prefix: 1, 2 or 4
	SPS, PPS                      [][]byte
}

var errShort = errors.New("truncated")

// ParseAVCConfig parses an AVCDecoderConfigurationRecord. The returned SPS and PPS alias b.
func ParseAVCConfig(b []byte) (AVCConfig, error) {
	var c AVCConfig
	if len(b) < 7 {
		return c, fmt.Errorf("avc config: %w (%d bytes)", errShort, len(b))
	}
	if b[0] != 1 {
		return c, fmt.Errorf("avc config: version %d, want 1", b[0])
	}
	c.Profile, c.Compatibility, c.Level = b[1], b[2], b[3]
	c.LengthSize = int(b[4]&0x03) + 1
	if c.LengthSize == 3 {
		return c, errors.New("avc config: NAL length size 3 is not allowed")
	}
	rest := b[5:]
	var err error
	if c.SPS, rest, err = parseParamSets(rest, int(rest[0]&0x1f)); err != nil {
		return c, fmt.Errorf("avc config: sps: %w", err)
	}
	if len(rest) < 1 {
		return c, fmt.Errorf("avc config: pps count: %w", errShort)
	}
	if c.PPS, _, err = parseParamSets(rest, int(rest[0])); err != nil {
		return c, fmt.Errorf("avc config: pps: %w", err)
	}
	if len(c.SPS) == 0 || len(c.PPS) == 0 {
		return c, errors.New("avc config: no SPS or no PPS")
	}
	return c, nil
}

// parseParamSets reads n parameter sets, each with a 16-bit length, after a count byte.
func parseParamSets(b []byte, n int) ([][]byte, []byte, error) {
	b = b[1:]
	sets := make([][]byte, 0, n)
	for range n {
		if len(b) < 2 {
			return nil, nil, errShort
		}
		l := int(b[0])<<8 | int(b[1])
		if l == 0 || len(b) < 2+l {
			return nil, nil, fmt.Errorf("set of %d bytes: %w", l, errShort)
		}
		sets = append(sets, b[2:2+l])
		b = b[2+l:]
	}
	return sets, b, nil
}

// Size returns the picture size the first SPS declares.
func (c AVCConfig) Size() (width, height int, err error) {
	var sps h264.SPS
	if err := sps.Unmarshal(c.SPS[0]); err != nil {
		return 0, 0, fmt.Errorf("avc sps: %w", err)
	}
	return sps.Width(), sps.Height(), nil
}

// checkAVCC verifies that b is a whole number of length-prefixed NAL units, so no consumer
// ever walks past the end of a payload.
func checkAVCC(b []byte, lengthSize int) error {
	for len(b) > 0 {
		if len(b) < lengthSize {
			return fmt.Errorf("avcc: length prefix %w", errShort)
		}
		n := 0
		for _, c := range b[:lengthSize] {
			n = n<<8 | int(c)
		}
		b = b[lengthSize:]
		if n == 0 || n > len(b) {
			return fmt.Errorf("avcc: NAL unit of %d bytes with %d left", n, len(b))
		}
		b = b[n:]
	}
	return nil
}
