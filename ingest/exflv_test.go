package ingest

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// hevcRecord is an HEVCDecoderConfigurationRecord of the parameter sets x265 wrote for
// testdata/sample-720p-hevc.mp4.
func hevcRecord(t testing.TB) []byte {
	t.Helper()
	ps := make([][]byte, 3)
	for i, h := range []string{"40010c01ffff01600000030090000003000003005d959009",
		"42010101600000030090000003000003005da00280802d16595924932bc05a7080000003008000000f04", "4401c172b46240"} {
		ps[i], _ = hex.DecodeString(h)
	}
	tr, err := codec.H265Params(ps[0], ps[1], ps[2])
	if err != nil {
		t.Fatal(err)
	}
	return tr.Config
}

// exVideoTag is an enhanced RTMP video tag body: frame type, packet type, FourCC, data.
func exVideoTag(frameType, packetType byte, fourCC string, data ...byte) []byte {
	return append(append([]byte{0x80 | frameType<<4 | packetType}, fourCC...), data...)
}

// An enhanced RTMP publisher's H.265 (hvc1) becomes an H.265 track and frames: composition
// time kept, keyframes known from the pictures themselves (gortmplib sets no frame type),
// AAC as mp4a too; unknown multitrack layouts and codecs not carried are refused by name, cut tags are
// errors.
func TestEnhancedFLVCarriesH265(t *testing.T) {
	var out captured
	x := NewFLV(&out)
	idr := []byte{0, 0, 0, 3, 19 << 1, 1, 0xaa}
	trail := []byte{0, 0, 0, 3, 1 << 1, 1, 0xbb}
	asc := []byte{0x12, 0x10} // AAC-LC 44.1 kHz stereo
	for _, step := range []struct {
		video bool
		ts    uint32
		body  []byte
	}{
		{true, 0, exVideoTag(1, exSequenceStart, "hvc1", hevcRecord(t)...)},
		{false, 0, append(append([]byte{flvSoundEx<<4 | exSequenceStart}, "mp4a"...), asc...)},
		{true, 0, exVideoTag(0, exCodedFrames, "hvc1", append([]byte{0, 0, 66}, idr...)...)},
		{false, 10, append(append([]byte{flvSoundEx<<4 | exCodedFrames}, "mp4a"...), 0x21, 0x10)},
		{true, 33, exVideoTag(2, exCodedFramesX, "hvc1", trail...)},
	} {
		feed := x.Audio
		if step.video {
			feed = x.Video
		}
		if err := feed(step.ts, step.body); err != nil {
			t.Fatalf("tag %x: %v", step.body[:min(len(step.body), 8)], err)
		}
	}
	if len(out.frames) != 3 {
		t.Fatalf("%d frames, want 3", len(out.frames))
	}
	v0, a, v1 := out.frames[0], out.frames[1], out.frames[2]
	if v0.Track.Codec != relay.CodecH265 || v0.Track.Width != 1280 || !v0.Key || v0.PTS-v0.DTS != 66*time.Millisecond {
		t.Errorf("first picture: %s %dx%d key %v cts %v", v0.Track.Codec, v0.Track.Width, v0.Track.Height, v0.Key, v0.PTS-v0.DTS)
	}
	if v1.Key || v1.PTS != v1.DTS || v1.DTS != 33*time.Millisecond {
		t.Errorf("second picture: key %v PTS %v DTS %v", v1.Key, v1.PTS, v1.DTS)
	}
	if a.Track.Codec != relay.CodecAAC || a.Track.SampleRate != 44100 {
		t.Errorf("audio: %s %d Hz", a.Track.Codec, a.Track.SampleRate)
	}
	for name, body := range map[string][]byte{
		"multitrack layout 3": {0x80 | 1<<4 | exVideoMultitrack, 3 << 4, 'h', 'v', 'c', '1'},
		"vvc":                 exVideoTag(1, exSequenceStart, "vvc1", 0x81),
	} {
		if err := x.Video(0, body); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
	if err := x.Audio(0, append([]byte{flvSoundEx<<4 | exSequenceStart}, "fLaC"...)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("flac: %v, want ErrUnsupported", err)
	}
	for _, body := range [][]byte{{0x80 | 1<<4}, exVideoTag(1, exCodedFrames, "hvc1", 0), exVideoTag(1, exCodedFrames, "hvc1", 0, 0, 0, 0, 0, 0, 9, 1)} {
		if err := x.Video(0, body); err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("cut tag %x: %v", body, err)
		}
	}
}
