package rtmp

import (
	"time"

	"github.com/relaycast/relaycast/relay"
)

// FrameHeader appends to dst the bytes of f's FLV tag that come before its payload (legacy
// for H.264 and AAC, enhanced for the rest) and reports whether RTMP carries f's codec. The
// tag's type is video for a video codec, audio otherwise. Players and push relays send the
// same tags.
func FrameHeader(dst []byte, f *relay.Frame) ([]byte, bool) {
	h := dst
	switch c := f.Track.Codec; c {
	case relay.CodecH264:
		h = append(h, 0x27, 1) // inter frame, AVC; NALU
		if f.Key {
			h[len(dst)] = 0x17
		}
		h = appendCTS(h, f)
	case relay.CodecH265, relay.CodecAV1, relay.CodecVP9:
		frameType := byte(2) // inter frame
		if f.Key {
			frameType = 1
		}
		mode := byte(exCodedFramesX)
		if c == relay.CodecH265 {
			mode = exCodedFrames
		}
		h = append(h, 0x80|frameType<<4|mode)
		h = append(h, fourCCs[c]...)
		switch c {
		case relay.CodecH265:
			h = appendCTS(h, f)
		case relay.CodecAV1:
			h = append(h, 0x12, 0) // a temporal delimiter, which ffmpeg wants and MP4-style payloads lack
		}
	case relay.CodecAAC:
		h = append(h, 0xaf, 1) // AAC, raw
	case relay.CodecOpus:
		h = append(append(h, flvSoundEx<<4|exCodedFrames), fourCCOpus...)
	default:
		return dst, false
	}
	return h, true
}

// ConfigHeader returns the bytes of t's sequence header tag that come before its config,
// and whether RTMP carries t's codec.
func ConfigHeader(t *relay.Track) ([]byte, bool) {
	switch t.Codec {
	case relay.CodecH264:
		return []byte{0x17, 0, 0, 0, 0}, true
	case relay.CodecAAC:
		return []byte{0xaf, 0}, true
	case relay.CodecH265, relay.CodecAV1, relay.CodecVP9:
		return append([]byte{0x80 | 1<<4 | exSequenceStart}, fourCCs[t.Codec]...), true
	case relay.CodecOpus:
		return append([]byte{flvSoundEx<<4 | exSequenceStart}, fourCCOpus...), true
	}
	return nil, false
}

// appendCTS appends a frame's composition time: signed 24-bit milliseconds.
func appendCTS(h []byte, f *relay.Frame) []byte {
	cts := int32((f.PTS - f.DTS) / time.Millisecond)
	return append(h, byte(cts>>16), byte(cts>>8), byte(cts))
}

// FourCC returns the enhanced RTMP FourCC of c ("hvc1"…), or "" for the codecs legacy RTMP
// carries.
func FourCC(c relay.Codec) string { return fourCCs[c] }
