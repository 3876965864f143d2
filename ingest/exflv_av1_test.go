package ingest_test

import (
	"testing"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/relay"
)

// AV1 and Opus over enhanced RTMP, as gortmplib sends them: a placeholder av1C, then temporal
// units with a delimiter in front and the real sequence header in each keyframe. The track
// is the in-band header's; delimiters are dropped; keyframes are those with a header.
func TestEnhancedFLVCarriesAV1AndOpus(t *testing.T) {
	clip, err := mediatest.FMP4Frames(mediatest.SampleAV1())
	if err != nil {
		t.Fatal(err)
	}
	var out frames
	x := ingest.NewFLV(&out)
	placeholder := []byte{0x81, 0x08, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x42, 0xab, 0xbf, 0xc3, 0x70, 0x0b, 0xe0, 0x01}
	if err := x.Video(0, append([]byte{0x80 | 1<<4 | 0, 'a', 'v', '0', '1'}, placeholder...)); err != nil {
		t.Fatal(err)
	}
	opusSent := false
	for _, f := range clip {
		ts := uint32(f.DTS / time.Millisecond)
		if f.Track.Codec == relay.CodecOpus {
			if !opusSent {
				opusSent = true
				if err := x.Audio(0, append([]byte{0x90, 'O', 'p', 'u', 's'}, f.Track.Config...)); err != nil {
					t.Fatal(err)
				}
			}
			if err := x.Audio(ts, append([]byte{0x91, 'O', 'p', 'u', 's'}, f.Payload...)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		tu := append([]byte{0x12, 0x00}, f.Payload...) // a temporal delimiter first
		if err := x.Video(ts, append([]byte{0x80 | 3, 'a', 'v', '0', '1'}, tu...)); err != nil {
			t.Fatal(err)
		}
	}
	var video, keys, audio int
	for _, f := range out.got {
		switch f.Track.Codec {
		case relay.CodecAV1:
			video++
			if f.Key {
				keys++
			}
			if f.Track.Width != 1280 || f.Track.Height != 720 {
				t.Fatalf("picture %d: a %dx%d track (the placeholder's?)", video, f.Track.Width, f.Track.Height)
			}
			if obus, err := codec.AV1Units(f.Payload); err != nil || obus[0][0]>>3&0x0f == 2 {
				t.Fatalf("picture %d: %v, or a temporal delimiter kept", video, err)
			}
		case relay.CodecOpus:
			audio++
		}
	}
	if video != 180 || keys != 6 || audio < 290 || out.got[0].Track.Codec == relay.CodecAV1 && !out.got[0].Key {
		t.Fatalf("%d pictures, %d keys, %d opus packets", video, keys, audio)
	}
}
