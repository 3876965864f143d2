package codec

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// H264Config is a parsed AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1).
type H264Config struct {
	Profile, Compatibility, Level byte
	LengthSize                    int // bytes in each NAL unit length prefix: 1, 2 or 4
	SPS, PPS                      [][]byte
}

// ErrShort is returned for input that ends before its declared size.
var ErrShort = errors.New("truncated")

// ParseH264Config parses an AVCDecoderConfigurationRecord. The returned SPS and PPS alias b.
func ParseH264Config(b []byte) (H264Config, error) {
	var c H264Config
	if len(b) < 7 {
		return c, fmt.Errorf("avc config: %w (%d bytes)", ErrShort, len(b))
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
		return c, fmt.Errorf("avc config: pps count: %w", ErrShort)
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
			return nil, nil, ErrShort
		}
		l := int(b[0])<<8 | int(b[1])
		if l == 0 || len(b) < 2+l {
			return nil, nil, fmt.Errorf("set of %d bytes: %w", l, ErrShort)
		}
		sets = append(sets, b[2:2+l])
		b = b[2+l:]
	}
	return sets, b, nil
}

// Size returns the picture size the first SPS declares.
func (c H264Config) Size() (width, height int, err error) {
	var sps h264.SPS
	if err := sps.Unmarshal(c.SPS[0]); err != nil {
		return 0, 0, fmt.Errorf("avc sps: %w", err)
	}
	return sps.Width(), sps.Height(), nil
}

// Reorders says whether pictures may come out of decoding order (B-frames), as the first SPS
// declares: never in the Baseline profiles, not when its VUI bounds the reordering at 0
// (x264 writes that bound), and possibly in any other.
func (c H264Config) Reorders() (bool, error) {
	var sps h264.SPS
	if err := sps.Unmarshal(c.SPS[0]); err != nil {
		return false, fmt.Errorf("avc sps: %w", err)
	}
	if sps.ProfileIdc == 66 {
		return false, nil
	}
	if sps.VUI != nil && sps.VUI.BitstreamRestriction != nil {
		return sps.VUI.BitstreamRestriction.MaxNumReorderFrames > 0, nil
	}
	return true, nil
}

// nextNALU splits the first length-prefixed NAL unit off b.
func nextNALU(b []byte, lengthSize int) (nalu, rest []byte, err error) {
	if len(b) < lengthSize {
		return nil, nil, fmt.Errorf("avcc: length prefix %w", ErrShort)
	}
	n := 0
	for _, x := range b[:lengthSize] {
		n = n<<8 | int(x)
	}
	b = b[lengthSize:]
	if n == 0 || n > len(b) {
		return nil, nil, fmt.Errorf("avcc: NAL unit of %d bytes with %d left", n, len(b))
	}
	return b[:n], b[n:], nil
}

// CheckAVCC verifies that b is a whole number of length-prefixed NAL units, so no consumer
// ever walks past the end of a payload.
func CheckAVCC(b []byte, lengthSize int) error {
	for len(b) > 0 {
		var err error
		if _, b, err = nextNALU(b, lengthSize); err != nil {
			return err
		}
	}
	return nil
}

// H.264 NAL unit types that decide whether an access unit can start decoding.
const (
	naluIDR = 5
	naluSPS = 7
	naluPPS = 8
)

// AccessUnit appends the NAL units of an AVCC payload (frames as ingest makes them) to
// nalus, aliasing payload. An IDR access unit without SPS and PPS of its own gets c's in
// front, so decoders that join there, or that never saw the out-of-band config, can start.
func (c H264Config) AccessUnit(nalus [][]byte, payload []byte) ([][]byte, error) {
	return nalConfig{c.LengthSize, [][]byte{c.SPS[0], c.PPS[0]}, h264Kind}.accessUnit(nalus, payload)
}
