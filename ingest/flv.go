package ingest

import (
	"fmt"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

// ErrUnsupported marks media the server cannot relay (another codec); the caller may skip
// such tags and keep the rest of the stream.
var ErrUnsupported = format.ErrUnsupported

// FrameWriter receives the frames an FLV source produces; relay.Publisher is one.
type FrameWriter interface {
	WriteFrame(*relay.Frame) error
	SetMetadata([]byte)
}

// FLV turns the tag bodies of one FLV source (an RTMP publisher, a file) into frames.
// It is not safe for concurrent use.
type FLV struct {
	out          FrameWriter
	video, audio *relay.Track
	videoNAL     codec.NALConfig // of video, when H.264 or H.265
	av1          av1Units        // when AV1
	vp9          vp9Units        // when VP9
	clock        codec.Timeline
	// Dropped counts media tags that came before their sequence header.
	Dropped int
	// OnClockJump, when set, hears of each discontinuity of the source's clock, which the
	// frames' timestamps run on through.
	OnClockJump func(step time.Duration)
}

// The FLV tracks on the source's timeline.
const (
	flvVideo = iota
	flvAudio
)

// NewFLV returns an FLV ingest that writes frames to out. The timestamps are read modulo
// 2^31 ms: ffmpeg's FLV muxer wraps there (after 24.8 days), RTMP's field at 2^32.
func NewFLV(out FrameWriter) *FLV {
	x := &FLV{out: out}
	x.clock = codec.Timeline{Rate: 1000, Wrap: 1 << 31, OnJump: func(step time.Duration) {
		if x.OnClockJump != nil {
			x.OnClockJump(step)
		}
	}}
	return x
}

// Video handles one video tag body with its 32-bit millisecond timestamp. body is only read
// during the call.
func (x *FLV) Video(ts uint32, body []byte) error {
	tag, err := format.ParseFLVVideo(body)
	if err != nil {
		return err
	}
	data := body[tag.Data:]
	switch {
	case tag.Kind == format.FLVSkip:
		return nil
	case tag.Codec == relay.CodecAV1:
		return x.av1Tag(ts, tag.Kind, data)
	case tag.Codec == relay.CodecVP9:
		return x.vp9Tag(ts, tag.Kind, data)
	case tag.Kind == format.FLVConfig && tag.Codec == relay.CodecH265:
		return x.setVideoConfig(codec.H265Track(data))
	case tag.Kind == format.FLVConfig:
		return x.setVideoConfig(codec.H264Track(data))
	}
	return x.picture(tag.Codec, ts, tag.CTS, tag.Key, data)
}

// av1Tag handles an AV1 tag: the av1C of a sequence start, or a temporal unit. The track is
// the in-band sequence header's, which every keyframe carries (encoders send a placeholder
// av1C before they have one).
func (x *FLV) av1Tag(ts uint32, kind format.FLVKind, data []byte) error {
	if kind == format.FLVConfig {
		t, err := codec.AV1Track(data)
		if err != nil {
			return fmt.Errorf("flv video: %w", err)
		}
		x.video, x.av1.out, x.av1.what = t, x.out, "flv video: av1"
		x.av1.track, x.av1.header, x.av1.needKey = t, nil, true
		return nil
	}
	if x.video == nil || x.video.Codec != relay.CodecAV1 {
		x.Dropped++
		return nil
	}
	tu, err := codec.AV1Units(data)
	if err != nil {
		return fmt.Errorf("flv video: %w", err)
	}
	dts := x.clock.At(flvVideo, int64(ts))
	return x.av1.write(tu, codec.Ticks(dts, 90000))
}

// vp9Tag handles a VP9 tag: the track is the keyframes' (a sequence start's vpcC has no
// picture size, and encoders send a placeholder).
func (x *FLV) vp9Tag(ts uint32, kind format.FLVKind, data []byte) error {
	if kind == format.FLVConfig {
		x.video = &relay.Track{Codec: relay.CodecVP9}
		x.vp9 = vp9Units{out: x.out, what: "flv video: vp9"}
		return nil
	}
	if x.video == nil || x.video.Codec != relay.CodecVP9 {
		x.Dropped++
		return nil
	}
	dts := x.clock.At(flvVideo, int64(ts))
	return x.vp9.write(data, codec.Ticks(dts, 90000))
}

func (x *FLV) setVideoConfig(t *relay.Track, err error) error {
	if err != nil {
		return fmt.Errorf("flv video: %w", err)
	}
	if x.videoNAL, err = codec.ParseNALConfig(t); err != nil {
		return fmt.Errorf("flv video: %w", err)
	}
	x.video = t
	return nil
}

// picture writes one coded picture of codec c, cts ms after its DTS. An H.265 picture's
// own NAL units say whether it is a keyframe: enhanced RTMP encoders do not all set the frame
// type.
func (x *FLV) picture(c relay.Codec, ts uint32, cts time.Duration, key bool, data []byte) error {
	if x.video == nil || x.video.Codec != c {
		x.Dropped++
		return nil
	}
	if err := codec.CheckAVCC(data, x.videoNAL.LengthSize()); err != nil {
		return fmt.Errorf("flv video: %w", err)
	}
	if c == relay.CodecH265 {
		key = x.videoNAL.RandomAccess(data)
	}
	dts := x.clock.At(flvVideo, int64(ts))
	return x.write(&relay.Frame{
		Track: x.video, DTS: dts, PTS: dts + cts,
		Key: key, Payload: clone(data),
	})
}

// Audio handles one audio tag body with its 32-bit millisecond timestamp. body is only read
// during the call.
func (x *FLV) Audio(ts uint32, body []byte) error {
	tag, err := format.ParseFLVAudio(body)
	if err != nil {
		return err
	}
	data := body[tag.Data:]
	switch {
	case tag.Kind == format.FLVSkip:
		return nil
	case tag.Kind == format.FLVConfig && tag.Codec == relay.CodecOpus:
		t, err := codec.OpusTrack(data)
		if err != nil {
			return fmt.Errorf("flv audio: %w", err)
		}
		x.audio = t
		return nil
	case tag.Kind == format.FLVConfig:
		return x.setAudioConfig(data)
	}
	return x.sound(ts, data)
}

func (x *FLV) setAudioConfig(asc []byte) error {
	t, err := codec.AACTrack(asc)
	if err != nil {
		return fmt.Errorf("flv audio: %w", err)
	}
	x.audio = t
	return nil
}

// sound writes one audio frame (AAC, Opus).
func (x *FLV) sound(ts uint32, data []byte) error {
	if x.audio == nil {
		x.Dropped++
		return nil
	}
	if len(data) == 0 {
		return nil
	}
	dts := x.clock.At(flvAudio, int64(ts))
	return x.write(&relay.Frame{Track: x.audio, DTS: dts, PTS: dts, Key: true, Payload: clone(data)})
}

// Metadata keeps the body of an @setDataFrame / onMetaData data message (AMF0, starting
// with the "onMetaData" string) for players. body must not change afterwards.
func (x *FLV) Metadata(body []byte) { x.out.SetMetadata(body) }

func (x *FLV) write(f *relay.Frame) error {
	if err := x.out.WriteFrame(f); err != nil {
		return fmt.Errorf("flv: %w", err)
	}
	return nil
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
