package testenv

import (
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

// WriteFLV writes frames to path as an FLV file with the tags relaycast's RTMP players get
// (enhanced ones for H.265, AV1, VP9 and Opus), as OBS and ffmpeg 6.1+ record them (ffmpeg
// 5.1, the one here, writes no enhanced FLV): each track's sequence header first, then the
// frames from time zero.
func WriteFLV(t testing.TB, path string, frames []*relay.Frame) {
	t.Helper()
	b := []byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
	tag := func(typ byte, ts time.Duration, body []byte) {
		ms := uint32(ts / time.Millisecond)
		h := []byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body)), byte(ms >> 16), byte(ms >> 8), byte(ms), byte(ms >> 24), 0, 0, 0}
		b = append(append(b, h...), body...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(h)+len(body)))
	}
	base := frames[0].DTS
	for _, f := range frames {
		base = min(base, f.DTS)
	}
	sent := map[*relay.Track]bool{}
	for _, f := range frames {
		typ := byte(format.FLVAudio)
		if f.Track.Codec.IsVideo() {
			typ = format.FLVVideo
		}
		if !sent[f.Track] {
			h, ok := format.FLVConfigHeader(f.Track)
			if !ok {
				t.Fatalf("FLV carries no %s", f.Track.Codec)
			}
			tag(typ, f.DTS-base, append(h, f.Track.Config...))
			sent[f.Track] = true
		}
		h, _ := format.FLVFrameHeader(nil, f)
		tag(typ, f.DTS-base, append(h, f.Payload...))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
