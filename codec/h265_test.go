package codec

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// The parameter sets x265 wrote for testdata/sample-720p-hevc.mp4 (Main, level 3.1).
var (
	hevcVPS, _ = hex.DecodeString("40010c01ffff01600000030090000003000003005d959009")
	hevcSPS, _ = hex.DecodeString("42010101600000030090000003000003005da00280802d16595924932bc05a7080000003008000000f04")
	hevcPPS, _ = hex.DecodeString("4401c172b46240")
)

// A record built from parameter sets parses back to them, with the picture size and the
// codecs string browsers and HLS players want.
func TestH265ParamsRoundTrip(t *testing.T) {
	tr, err := H265Params(hevcVPS, hevcSPS, hevcPPS)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Width != 1280 || tr.Height != 720 || tr.ClockRate != 90000 {
		t.Fatalf("track %dx%d at %d Hz", tr.Width, tr.Height, tr.ClockRate)
	}
	c, err := ParseH265Config(tr.Config)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.VPS[0], hevcVPS) || !bytes.Equal(c.SPS[0], hevcSPS) || !bytes.Equal(c.PPS[0], hevcPPS) || c.LengthSize != 4 {
		t.Fatalf("parsed %+v", c)
	}
	if got, want := c.CodecString(), "hvc1.1.6.L93.90"; got != want {
		t.Errorf("codecs %s, want %s", got, want)
	}
	for n := range len(tr.Config) {
		if _, err := ParseH265Config(tr.Config[:n]); err == nil {
			t.Fatalf("a record cut at %d bytes parsed", n)
		}
	}
}

// A random access picture gets VPS, SPS and PPS in front; other pictures go as they are.
func TestH265AccessUnitPutsParameterSetsInFrontOfAKeyframe(t *testing.T) {
	tr, _ := H265Params(hevcVPS, hevcSPS, hevcPPS)
	c, _ := ParseH265Config(tr.Config)
	idr := []byte{0, 0, 0, 3, 19 << 1, 1, 0xaa}  // IDR_W_RADL
	trail := []byte{0, 0, 0, 3, 1 << 1, 1, 0xbb} // TRAIL_R
	au, err := c.AccessUnit(nil, idr)
	if err != nil || len(au) != 4 || !bytes.Equal(au[0], hevcVPS) || !bytes.Equal(au[3], idr[4:]) {
		t.Fatalf("keyframe: %x, %v", au, err)
	}
	if au, err = c.AccessUnit(nil, trail); err != nil || len(au) != 1 {
		t.Fatalf("other picture: %x, %v", au, err)
	}
	if _, err := c.AccessUnit(nil, idr[:5]); err == nil {
		t.Fatal("a cut payload passed")
	}
}

// SPSs x265 writes for 320x240 Main: without B-frames and with two.
func TestH265ReordersAsTheSPSDeclares(t *testing.T) {
	for _, tc := range []struct {
		name, sps string
		want      bool
	}{
		{"bframes=0", "42010101600000030090000003000003003ca00a080f165ba4a4c2f0168080000003008000000f04", false},
		{"bframes=2", "42010101600000030090000003000003003ca00a080f16595912930bc05a020000030002000003003c10", true},
	} {
		sps, _ := hex.DecodeString(tc.sps)
		got, err := H265Config{SPS: [][]byte{sps}}.Reorders()
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := (H265Config{SPS: [][]byte{{0x42, 0x01}}}).Reorders(); err == nil {
		t.Error("a cut SPS read")
	}
}

func FuzzH265Config(f *testing.F) {
	tr, _ := H265Params(hevcVPS, hevcSPS, hevcPPS)
	f.Add(tr.Config)
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseH265Config(b); err == nil {
			_, _, _ = c.Size()
			_ = c.CodecString()
		}
	})
}

// FuzzAV1Config feeds any av1C record (what an enhanced RTMP publisher sends) and any
// OpusHead to the parsers: they may refuse them, never panic.
func FuzzAV1Config(f *testing.F) {
	f.Add([]byte{0x81, 0x08, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x42, 0xab, 0xbf, 0xc3, 0x70, 0x0b, 0xe0, 0x01})
	f.Add([]byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseAV1Config(b); err == nil {
			_ = c.CodecString()
			if _, err := AV1Track(b); err != nil {
				t.Fatalf("parsed, but no track: %v", err)
			}
		}
		_, _ = ParseOpusConfig(b)
		_, _ = AV1Units(b)
	})
}
