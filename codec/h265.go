package codec

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/relaycast/relaycast/relay"
)

// H.265 NAL unit types of parameter sets, and the header size.
const (
	h265VPS = 32
	h265SPS = 33
	h265PPS = 34
	// hvcCHeader is the fixed part of an HEVCDecoderConfigurationRecord, before its arrays.
	hvcCHeader = 23
)

// H265Config is a parsed HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.3.1).
type H265Config struct {
	// PTL is the general profile, tier and level, as in the SPS: profile space, tier and
	// profile (1 byte), compatibility flags (4), constraint flags (6), level (1).
	PTL           [12]byte
	LengthSize    int
	VPS, SPS, PPS [][]byte
}

// ParseH265Config parses an HEVCDecoderConfigurationRecord. The parameter sets alias b.
func ParseH265Config(b []byte) (H265Config, error) {
	var c H265Config
	if len(b) < hvcCHeader {
		return c, fmt.Errorf("hevc config: %w (%d bytes)", ErrShort, len(b))
	}
	if b[0] != 1 {
		return c, fmt.Errorf("hevc config: version %d, want 1", b[0])
	}
	copy(c.PTL[:], b[1:13])
	c.LengthSize = int(b[21]&0x03) + 1
	if c.LengthSize == 3 {
		return c, errors.New("hevc config: NAL length size 3 is not allowed")
	}
	n, rest := int(b[22]), b[hvcCHeader:]
	for range n {
		if len(rest) < 3 {
			return c, fmt.Errorf("hevc config: array: %w", ErrShort)
		}
		typ, count := rest[0]&0x3f, int(rest[1])<<8|int(rest[2])
		rest = rest[3:]
		for range count {
			if len(rest) < 2 {
				return c, fmt.Errorf("hevc config: nal unit: %w", ErrShort)
			}
			l := int(rest[0])<<8 | int(rest[1])
			if l == 0 || len(rest) < 2+l {
				return c, fmt.Errorf("hevc config: nal unit of %d bytes: %w", l, ErrShort)
			}
			nalu := rest[2 : 2+l]
			rest = rest[2+l:]
			switch typ {
			case h265VPS:
				c.VPS = append(c.VPS, nalu)
			case h265SPS:
				c.SPS = append(c.SPS, nalu)
			case h265PPS:
				c.PPS = append(c.PPS, nalu)
			}
		}
	}
	if len(c.VPS) == 0 || len(c.SPS) == 0 || len(c.PPS) == 0 {
		return c, errors.New("hevc config: a VPS, SPS or PPS is missing")
	}
	return c, nil
}

// Size returns the picture size the first SPS declares.
func (c H265Config) Size() (width, height int, err error) {
	var sps h265.SPS
	if err := sps.Unmarshal(c.SPS[0]); err != nil {
		return 0, 0, fmt.Errorf("hevc sps: %w", err)
	}
	return sps.Width(), sps.Height(), nil
}

// Profile is the general profile (1 Main, 2 Main 10, 3 Main Still Picture, 4 range
// extensions…).
func (c H265Config) Profile() int { return int(c.PTL[0] & 0x1f) }

// Reorders says whether pictures may come out of decoding order (B-frames), as the first
// SPS declares for its highest sub-layer (x265 with bframes=0 declares 0).
func (c H265Config) Reorders() (bool, error) {
	var sps h265.SPS
	if err := sps.Unmarshal(c.SPS[0]); err != nil {
		return false, fmt.Errorf("hevc sps: %w", err)
	}
	if len(sps.MaxNumReorderPics) == 0 {
		return true, nil
	}
	return sps.MaxNumReorderPics[len(sps.MaxNumReorderPics)-1] > 0, nil
}

// CodecString returns the RFC 6381 codecs string (ISO/IEC 14496-15, E.3), e.g.
// hvc1.1.6.L93.90 (Main, level 3.1, progressive and frame-only).
func (c H265Config) CodecString() string {
	var b strings.Builder
	b.WriteString("hvc1.")
	if space := c.PTL[0] >> 6; space > 0 {
		b.WriteByte('A' + space - 1)
	}
	b.WriteString(strconv.Itoa(int(c.PTL[0] & 0x1f)))
	compat := uint32(c.PTL[1])<<24 | uint32(c.PTL[2])<<16 | uint32(c.PTL[3])<<8 | uint32(c.PTL[4])
	var rev uint32
	for i := range 32 { // the flags in reverse bit order
		rev |= (compat >> i & 1) << (31 - i)
	}
	b.WriteString("." + strconv.FormatUint(uint64(rev), 16) + ".")
	if c.PTL[0]&0x20 != 0 {
		b.WriteByte('H')
	} else {
		b.WriteByte('L')
	}
	b.WriteString(strconv.Itoa(int(c.PTL[11])))
	cons := c.PTL[5:11]
	for len(cons) > 0 && cons[len(cons)-1] == 0 {
		cons = cons[:len(cons)-1]
	}
	for _, x := range cons {
		b.WriteString("." + strings.ToUpper(strconv.FormatUint(uint64(x), 16)))
	}
	return b.String()
}

// H265Track makes the relay track an HEVCDecoderConfigurationRecord describes, with its
// picture size. The record is copied.
func H265Track(record []byte) (*relay.Track, error) {
	cfg, err := ParseH265Config(record)
	if err != nil {
		return nil, err
	}
	w, h, err := cfg.Size()
	if err != nil {
		return nil, err
	}
	return &relay.Track{Codec: relay.CodecH265, ClockRate: 90000, Config: bytes.Clone(record), Width: w, Height: h}, nil
}

// H265Params makes the relay track of an H.265 stream from its VPS, SPS and PPS (RTSP's SDP,
// in-band parameter sets), with an HEVCDecoderConfigurationRecord of 4-byte NAL lengths.
func H265Params(vps, sps, pps []byte) (*relay.Track, error) {
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("hevc sps: %w", err)
	}
	rbsp := h264.EmulationPreventionRemove(sps[1:])
	if len(rbsp) < 14 || len(vps) < 2 || len(pps) < 2 || len(vps) > 0xffff || len(sps) > 0xffff || len(pps) > 0xffff {
		return nil, fmt.Errorf("hevc parameter sets: vps of %d bytes, sps %d, pps %d", len(vps), len(sps), len(pps))
	}
	rec := make([]byte, 0, hvcCHeader+3*5+len(vps)+len(sps)+len(pps))
	rec = append(rec, 1)
	rec = append(rec, rbsp[2:14]...) // past the header's second byte and the VPS id byte
	rec = append(rec, 0xf0, 0x00,    // min_spatial_segmentation_idc 0
		0xfc,                                // parallelismType unknown
		0xfc|byte(s.ChromaFormatIdc&3),      //
		0xf8|byte(s.BitDepthLumaMinus8&7),   //
		0xf8|byte(s.BitDepthChromaMinus8&7), //
		0, 0,                                // avgFrameRate unknown
		(s.MaxSubLayersMinus1+1)&7<<3|b2u(s.TemporalIDNestingFlag)<<2|3, // 4-byte lengths
		3)
	for _, p := range []struct {
		typ  byte
		nalu []byte
	}{{h265VPS, vps}, {h265SPS, sps}, {h265PPS, pps}} {
		rec = append(rec, 0x80|p.typ, 0, 1, byte(len(p.nalu)>>8), byte(len(p.nalu)))
		rec = append(rec, p.nalu...)
	}
	return H265Track(rec)
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// AccessUnit appends the NAL units of a length-prefixed payload to nalus, aliasing payload.
// A random access picture without parameter sets of its own gets c's in front.
func (c H265Config) AccessUnit(nalus [][]byte, payload []byte) ([][]byte, error) {
	return nalConfig{c.LengthSize, [][]byte{c.VPS[0], c.SPS[0], c.PPS[0]}, h265Kind}.accessUnit(nalus, payload)
}
