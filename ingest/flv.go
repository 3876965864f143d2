package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// FLV codec ids and packet types (Adobe FLV spec 10.1, annex E.4.2/E.4.3).
const (
	flvCodecAVC    = 7
	flvSoundAAC    = 10
	flvFrameKey    = 1
	avcSeqHeader   = 0
	avcNALU        = 1
	avcEndOfSeq    = 2
	aacSeqHeader   = 0
	aacRaw         = 1
	videoTagHeader = 5 // frame type/codec, AVC packet type, composition time
	audioTagHeader = 2 // sound format/rate/size/type, AAC packet type
)

// Enhanced RTMP (E-RTMP v2) tags: a video tag with the top bit set, or an audio tag of sound
// format 9, has a packet type and a FourCC after its first byte.
const (
	flvSoundEx          = 9
	exHeader            = 5 // type byte and FourCC
	exSequenceStart     = 0
	exCodedFrames       = 1
	exSequenceEnd       = 2
	exCodedFramesX      = 3 // video: no composition time
	exMetadata          = 4
	exVideoMultitrack   = 6
	exAudioMultichannel = 4
	exAudioMultitrack   = 5
	exFrameCommand      = 5 // video frame type of a command frame, not a picture
)

// ErrUnsupported marks media the server cannot relay (another codec); the caller may skip
// such tags and keep the rest of the stream.
var ErrUnsupported = errors.New("unsupported media")

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
	if len(body) < 1 {
		return errors.New("flv video: empty tag")
	}
	if body[0]&0x80 != 0 {
		return x.exVideo(ts, body)
	}
	if codec := body[0] & 0x0f; codec != flvCodecAVC {
		return fmt.Errorf("flv video: %w: codec id %d (only H.264/AVC, and H.265 over enhanced RTMP)", ErrUnsupported, codec)
	}
	if len(body) < videoTagHeader {
		return fmt.Errorf("flv video: AVC tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	key := body[0]>>4 == flvFrameKey
	cts := int32(uint32(body[2])<<16|uint32(body[3])<<8|uint32(body[4])) << 8 >> 8 // signed 24-bit
	data := body[videoTagHeader:]
	switch body[1] {
	case avcSeqHeader:
		return x.setVideoConfig(codec.H264Track(data))
	case avcNALU:
		return x.picture(relay.CodecH264, ts, cts, key, data)
	case avcEndOfSeq:
		return nil
	default:
		return fmt.Errorf("flv video: AVC packet type %d", body[1])
	}
}

// exVideo handles an enhanced RTMP video tag: H.265 (hvc1) or H.264 (avc1) by FourCC.
func (x *FLV) exVideo(ts uint32, body []byte) error {
	frameType, packetType := body[0]>>4&0x07, body[0]&0x0f
	if packetType == exVideoMultitrack {
		return fmt.Errorf("flv video: %w: enhanced RTMP multitrack video (one track per stream is carried)", ErrUnsupported)
	}
	if len(body) < exHeader {
		return fmt.Errorf("flv video: enhanced tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	var c relay.Codec
	switch fourCC := string(body[1:5]); fourCC {
	case "hvc1":
		c = relay.CodecH265
	case "avc1":
		c = relay.CodecH264
	case "av01":
		c = relay.CodecAV1
	case "vp09":
		c = relay.CodecVP9
	default:
		return fmt.Errorf("flv video: %w: enhanced RTMP codec %q (H.265, AV1, VP9 and H.264 are carried)", ErrUnsupported, fourCC)
	}
	data := body[exHeader:]
	switch {
	case frameType == exFrameCommand || packetType == exSequenceEnd || packetType == exMetadata:
		return nil
	case c == relay.CodecAV1:
		return x.exAV1(ts, packetType, data)
	case c == relay.CodecVP9:
		return x.exVP9(ts, packetType, data)
	case packetType == exSequenceStart && c == relay.CodecH265:
		return x.setVideoConfig(codec.H265Track(data))
	case packetType == exSequenceStart:
		return x.setVideoConfig(codec.H264Track(data))
	case packetType == exCodedFrames:
		if len(data) < 3 {
			return fmt.Errorf("flv video: enhanced coded frames of %d bytes: %w", len(body), codec.ErrShort)
		}
		cts := int32(uint32(data[0])<<16|uint32(data[1])<<8|uint32(data[2])) << 8 >> 8
		return x.picture(c, ts, cts, frameType == flvFrameKey, data[3:])
	case packetType == exCodedFramesX:
		return x.picture(c, ts, 0, frameType == flvFrameKey, data)
	default:
		return fmt.Errorf("flv video: %w: enhanced RTMP video packet type %d", ErrUnsupported, packetType)
	}
}

// exAV1 handles an AV1 tag: the av1C of a sequence start, or a temporal unit. The track is
// the in-band sequence header's, which every keyframe carries (encoders send a placeholder
// av1C before they have one).
func (x *FLV) exAV1(ts uint32, packetType byte, data []byte) error {
	switch packetType {
	case exSequenceStart:
		t, err := codec.AV1Track(data)
		if err != nil {
			return fmt.Errorf("flv video: %w", err)
		}
		x.video, x.av1.out, x.av1.what = t, x.out, "flv video: av1"
		x.av1.track, x.av1.header, x.av1.needKey = t, nil, true
		return nil
	case exCodedFrames, exCodedFramesX:
	default:
		return fmt.Errorf("flv video: %w: enhanced RTMP video packet type %d", ErrUnsupported, packetType)
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

// exVP9 handles a VP9 tag: the track is the keyframes' (a sequence start's vpcC has no
// picture size, and encoders send a placeholder).
func (x *FLV) exVP9(ts uint32, packetType byte, data []byte) error {
	switch packetType {
	case exSequenceStart:
		x.video = &relay.Track{Codec: relay.CodecVP9}
		x.vp9 = vp9Units{out: x.out, what: "flv video: vp9"}
		return nil
	case exCodedFrames, exCodedFramesX:
	default:
		return fmt.Errorf("flv video: %w: enhanced RTMP video packet type %d", ErrUnsupported, packetType)
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
func (x *FLV) picture(c relay.Codec, ts uint32, cts int32, key bool, data []byte) error {
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
		Track: x.video, DTS: dts, PTS: dts + time.Duration(cts)*time.Millisecond,
		Key: key, Payload: clone(data),
	})
}

// Audio handles one audio tag body with its 32-bit millisecond timestamp. body is only read
// during the call.
func (x *FLV) Audio(ts uint32, body []byte) error {
	if len(body) < 1 {
		return errors.New("flv audio: empty tag")
	}
	format := body[0] >> 4
	if format == flvSoundEx {
		return x.exAudio(ts, body)
	}
	if format != flvSoundAAC {
		return fmt.Errorf("flv audio: %w: sound format %d (only AAC)", ErrUnsupported, format)
	}
	if len(body) < audioTagHeader {
		return fmt.Errorf("flv audio: AAC tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	data := body[audioTagHeader:]
	switch body[1] {
	case aacSeqHeader:
		return x.setAudioConfig(data)
	case aacRaw:
		return x.sound(ts, data)
	default:
		return fmt.Errorf("flv audio: AAC packet type %d", body[1])
	}
}

// exAudio handles an enhanced RTMP audio tag: AAC (mp4a) by FourCC.
func (x *FLV) exAudio(ts uint32, body []byte) error {
	packetType := body[0] & 0x0f
	if packetType == exAudioMultitrack {
		return fmt.Errorf("flv audio: %w: enhanced RTMP multitrack audio (one track per stream is carried)", ErrUnsupported)
	}
	if len(body) < exHeader {
		return fmt.Errorf("flv audio: enhanced tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	fourCC := string(body[1:5])
	if fourCC != "mp4a" && fourCC != "Opus" {
		return fmt.Errorf("flv audio: %w: enhanced RTMP codec %q (AAC and Opus are carried)", ErrUnsupported, fourCC)
	}
	data := body[exHeader:]
	switch packetType {
	case exSequenceStart:
		if fourCC == "Opus" {
			t, err := codec.OpusTrack(data)
			if err != nil {
				return fmt.Errorf("flv audio: %w", err)
			}
			x.audio = t
			return nil
		}
		return x.setAudioConfig(data)
	case exCodedFrames:
		return x.sound(ts, data)
	case exSequenceEnd, exAudioMultichannel:
		return nil
	default:
		return fmt.Errorf("flv audio: %w: enhanced RTMP audio packet type %d", ErrUnsupported, packetType)
	}
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
