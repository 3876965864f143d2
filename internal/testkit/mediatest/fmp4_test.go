package mediatest

import (
	"testing"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// The AV1 and Opus clip reads as 6 s of 720p AV1 with a keyframe every second and 48 kHz
// stereo Opus; its tracks' configurations parse back, with the codecs strings browsers take.
func TestAV1ClipReads(t *testing.T) {
	frames, err := FMP4Frames(SampleAV1())
	if err != nil {
		t.Fatal(err)
	}
	var video, audio, keys int
	for _, f := range frames {
		switch f.Track.Codec {
		case relay.CodecAV1:
			video++
			if f.Key {
				keys++
			}
			if video == 1 && (!f.Key || f.Track.Width != 1280 || f.Track.Height != 720) {
				t.Fatalf("first picture: key %v, %dx%d", f.Key, f.Track.Width, f.Track.Height)
			}
		case relay.CodecOpus:
			audio++
			if f.Track.Channels != 2 || f.Track.ClockRate != 48000 {
				t.Fatalf("opus track: %d channels at %d Hz", f.Track.Channels, f.Track.ClockRate)
			}
		}
	}
	if video != 180 || keys != 6 || audio < 290 {
		t.Fatalf("%d pictures (%d keys), %d opus packets", video, keys, audio)
	}
	c, err := codec.ParseAV1Config(frames[0].Track.Config)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CodecString(); got != "av01.0.05M.08" {
		t.Errorf("codecs %s", got)
	}
	for _, f := range frames {
		if f.Track.Codec == relay.CodecAV1 {
			if _, err := codec.AV1Units(f.Payload); err != nil {
				t.Fatalf("picture at %v: %v", f.DTS, err)
			}
		}
	}
}
