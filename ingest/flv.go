package ingest

import (
	"fmt"
	"slices"
	"strconv"
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
	out    FrameWriter
	videos []*flvVideo // by enhanced RTMP track id, as they came
	// main is the track the stream carries, settled at the first picture
	main    uint8
	mainSet bool
	audio   *relay.Track
	clock   codec.Timeline
	// Dropped counts media tags that came before their sequence header, and tracks beyond
	// what is carried (a second audio track).
	Dropped int
	// OnClockJump, when set, hears of each discontinuity of the source's clock, which the
	// frames' timestamps run on through.
	OnClockJump func(step time.Duration)
}

// flvVideo is one video track of an FLV source; one after the first is a rendition, which
// its own stream carries when the writer publishes renditions (relay.Publisher does).
type flvVideo struct {
	id       uint8
	sink     videoSink
	out      FrameWriter // once assigned; nil: not carried
	assigned bool
	track    *relay.Track
	nal      codec.NALConfig // of track, when H.264 or H.265
	av1      av1Units        // when AV1
	vp9      vp9Units        // when VP9
}

// Renditions is a FrameWriter that publishes an encoder's other renditions beside its own
// stream: relay.Publisher.
type Renditions interface {
	Rendition(label string) (*relay.Publisher, error)
	MainRendition() string
}

// The FLV tracks on the source's timeline: audio, then video by track id.
const flvAudio = 0

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
	return format.EachFLVVideo(body, func(id uint8, tag format.FLVTag, data []byte) error {
		if tag.Kind == format.FLVSkip {
			return nil
		}
		return x.videoTag(x.videoTrack(id), ts, tag, data, format.FLVMultitrackVideo(body))
	})
}

// videoTrack is the track of id, made on its first tag.
func (x *FLV) videoTrack(id uint8) *flvVideo {
	for _, v := range x.videos {
		if v.id == id {
			return v
		}
	}
	v := &flvVideo{id: id}
	v.sink = videoSink{x, v}
	x.videos = append(x.videos, v)
	return v
}

// videoSink is where a track's frames go; which writer that is, the stream or a rendition
// labelled by the track's id, is settled at the source's first picture (assign), when every
// track has sent its configuration.
type videoSink struct {
	x *FLV
	v *flvVideo
}

func (s videoSink) WriteFrame(f *relay.Frame) error {
	out, err := s.x.assign(s.v)
	if err != nil || out == nil {
		s.x.Dropped++ // a track not carried: renditions need a writer that publishes them
		return err
	}
	return write(out, f)
}

func (videoSink) SetMetadata([]byte) {}

// assign settles v's writer: the stream's for the main track (the first, or the one the
// path names if the source has it), a rendition for the others.
func (x *FLV) assign(v *flvVideo) (FrameWriter, error) {
	if v.assigned {
		return v.out, nil
	}
	r, renditions := x.out.(Renditions)
	if !x.mainSet {
		x.mainSet, x.main = true, x.videos[0].id
		if n, err := strconv.ParseUint(mainLabel(r, renditions), 10, 8); err == nil && slices.ContainsFunc(x.videos, func(t *flvVideo) bool { return t.id == uint8(n) }) {
			x.main = uint8(n)
		}
	}
	v.assigned = true
	switch {
	case v.id == x.main:
		v.out = x.out
	case renditions:
		p, err := r.Rendition(strconv.Itoa(int(v.id)))
		if err != nil {
			return nil, fmt.Errorf("flv video track %d: %w", v.id, err)
		}
		v.out = p
	}
	return v.out, nil
}

func mainLabel(r Renditions, ok bool) string {
	if !ok {
		return ""
	}
	return r.MainRendition()
}

// videoTag handles one track's tag. multi: it came in a multitrack tag, whose frame type
// some encoders leave unset, so H.264's keyframes are read from its NAL units.
func (x *FLV) videoTag(v *flvVideo, ts uint32, tag format.FLVTag, data []byte, multi bool) error {
	switch {
	case tag.Codec == relay.CodecAV1:
		return x.av1Tag(v, ts, tag.Kind, data)
	case tag.Codec == relay.CodecVP9:
		return x.vp9Tag(v, ts, tag.Kind, data)
	case tag.Kind == format.FLVConfig && tag.Codec == relay.CodecH265:
		return v.setConfig(codec.H265Track(data))
	case tag.Kind == format.FLVConfig:
		return v.setConfig(codec.H264Track(data))
	}
	return x.picture(v, tag.Codec, ts, tag.CTS, tag.Key, multi, data)
}

// clockTrack is v's track on the source's timeline.
func (v *flvVideo) clockTrack() int { return 1 + int(v.id) }

// av1Tag handles an AV1 tag: the av1C of a sequence start, or a temporal unit. The track is
// the in-band sequence header's, which every keyframe carries (encoders send a placeholder
// av1C before they have one).
func (x *FLV) av1Tag(v *flvVideo, ts uint32, kind format.FLVKind, data []byte) error {
	if kind == format.FLVConfig {
		t, err := codec.AV1Track(data)
		if err != nil {
			return fmt.Errorf("flv video: %w", err)
		}
		v.track, v.av1.out, v.av1.what = t, v.sink, "flv video: av1"
		v.av1.track, v.av1.header, v.av1.needKey = t, nil, true
		return nil
	}
	if v.track == nil || v.track.Codec != relay.CodecAV1 {
		x.Dropped++
		return nil
	}
	tu, err := codec.AV1Units(data)
	if err != nil {
		return fmt.Errorf("flv video: %w", err)
	}
	dts := x.clock.At(v.clockTrack(), int64(ts))
	return v.av1.write(tu, codec.Ticks(dts, 90000))
}

// vp9Tag handles a VP9 tag: the track is the keyframes' (a sequence start's vpcC has no
// picture size, and encoders send a placeholder).
func (x *FLV) vp9Tag(v *flvVideo, ts uint32, kind format.FLVKind, data []byte) error {
	if kind == format.FLVConfig {
		v.track = &relay.Track{Codec: relay.CodecVP9}
		v.vp9 = vp9Units{out: v.sink, what: "flv video: vp9"}
		return nil
	}
	if v.track == nil || v.track.Codec != relay.CodecVP9 {
		x.Dropped++
		return nil
	}
	dts := x.clock.At(v.clockTrack(), int64(ts))
	return v.vp9.write(data, codec.Ticks(dts, 90000))
}

func (v *flvVideo) setConfig(t *relay.Track, err error) error {
	if err != nil {
		return fmt.Errorf("flv video: %w", err)
	}
	if v.nal, err = codec.ParseNALConfig(t); err != nil {
		return fmt.Errorf("flv video: %w", err)
	}
	v.track = t
	return nil
}

// picture writes one coded picture of codec c, cts ms after its DTS. An H.265 picture's
// own NAL units say whether it is a keyframe: enhanced RTMP encoders do not all set the frame
// type.
func (x *FLV) picture(v *flvVideo, c relay.Codec, ts uint32, cts time.Duration, key, multi bool, data []byte) error {
	if v.track == nil || v.track.Codec != c {
		x.Dropped++
		return nil
	}
	if err := codec.CheckAVCC(data, v.nal.LengthSize()); err != nil {
		return fmt.Errorf("flv video: %w", err)
	}
	if c == relay.CodecH265 || multi {
		key = v.nal.RandomAccess(data)
	}
	dts := x.clock.At(v.clockTrack(), int64(ts))
	return v.sink.WriteFrame(&relay.Frame{
		Track: v.track, DTS: dts, PTS: dts + cts,
		Key: key, Payload: clone(data),
	})
}

// Audio handles one audio tag body with its 32-bit millisecond timestamp. body is only read
// during the call.
func (x *FLV) Audio(ts uint32, body []byte) error {
	return format.EachFLVAudio(body, func(id uint8, tag format.FLVTag, data []byte) error {
		if id != 0 {
			x.Dropped++ // one audio track is carried, in every rendition
			return nil
		}
		return x.audioTag(ts, tag, data)
	})
}

func (x *FLV) audioTag(ts uint32, tag format.FLVTag, data []byte) error {
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
	payload := clone(data)
	for _, v := range x.videos {
		if v.out != nil && v.out != x.out {
			if err := write(v.out, &relay.Frame{Track: x.audio, DTS: dts, PTS: dts, Key: true, Payload: payload}); err != nil {
				return err
			}
		}
	}
	return write(x.out, &relay.Frame{Track: x.audio, DTS: dts, PTS: dts, Key: true, Payload: payload})
}

// Metadata keeps the body of an @setDataFrame / onMetaData data message (AMF0, starting
// with the "onMetaData" string) for players. body must not change afterwards.
func (x *FLV) Metadata(body []byte) { x.out.SetMetadata(body) }

func write(out FrameWriter, f *relay.Frame) error {
	if err := out.WriteFrame(f); err != nil {
		return fmt.Errorf("flv: %w", err)
	}
	return nil
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
