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
	lengthSize   int
	clock        tsExtender
	// Dropped counts media tags that came before their sequence header.
	Dropped int
}

// NewFLV returns an FLV ingest that writes frames to out.
func NewFLV(out FrameWriter) *FLV { return &FLV{out: out} }

// Video handles one video tag body with its 32-bit millisecond timestamp. body is only read
// during the call.
func (x *FLV) Video(ts uint32, body []byte) error {
	if len(body) < 1 {
		return errors.New("flv video: empty tag")
	}
	if codec := body[0] & 0x0f; codec != flvCodecAVC || body[0]&0x80 != 0 {
		return fmt.Errorf("flv video: %w: codec id %d (only H.264/AVC)", ErrUnsupported, codec)
	}
	if len(body) < videoTagHeader {
		return fmt.Errorf("flv video: AVC tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	key := body[0]>>4 == flvFrameKey
	cts := int32(uint32(body[2])<<16|uint32(body[3])<<8|uint32(body[4])) << 8 >> 8 // signed 24-bit
	data := body[videoTagHeader:]
	switch body[1] {
	case avcSeqHeader:
		return x.setVideoConfig(data)
	case avcNALU:
		if x.video == nil {
			x.Dropped++
			return nil
		}
		if err := codec.CheckAVCC(data, x.lengthSize); err != nil {
			return fmt.Errorf("flv video: %w", err)
		}
		dts := x.clock.extend(ts)
		return x.write(&relay.Frame{
			Track: x.video, DTS: dts, PTS: dts + time.Duration(cts)*time.Millisecond,
			Key: key, Payload: clone(data),
		})
	case avcEndOfSeq:
		return nil
	default:
		return fmt.Errorf("flv video: AVC packet type %d", body[1])
	}
}

func (x *FLV) setVideoConfig(data []byte) error {
	t, err := codec.H264Track(data)
	if err != nil {
		return fmt.Errorf("flv video: %w", err)
	}
	cfg, _ := codec.ParseH264Config(t.Config)
	x.lengthSize, x.video = cfg.LengthSize, t
	return nil
}

// Audio handles one audio tag body with its 32-bit millisecond timestamp. body is only read
// during the call.
func (x *FLV) Audio(ts uint32, body []byte) error {
	if len(body) < 1 {
		return errors.New("flv audio: empty tag")
	}
	if format := body[0] >> 4; format != flvSoundAAC {
		return fmt.Errorf("flv audio: %w: sound format %d (only AAC)", ErrUnsupported, format)
	}
	if len(body) < audioTagHeader {
		return fmt.Errorf("flv audio: AAC tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	data := body[audioTagHeader:]
	switch body[1] {
	case aacSeqHeader:
		t, err := codec.AACTrack(data)
		if err != nil {
			return fmt.Errorf("flv audio: %w", err)
		}
		x.audio = t
		return nil
	case aacRaw:
		if x.audio == nil {
			x.Dropped++
			return nil
		}
		if len(data) == 0 {
			return nil
		}
		dts := x.clock.extend(ts)
		return x.write(&relay.Frame{Track: x.audio, DTS: dts, PTS: dts, Key: true, Payload: clone(data)})
	default:
		return fmt.Errorf("flv audio: AAC packet type %d", body[1])
	}
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

// tsExtender turns 32-bit millisecond timestamps, which wrap after 49.7 days and may step
// back a little between interleaved tracks, into a monotonic-enough 64-bit timeline.
type tsExtender struct {
	started bool
	last    uint32
	ms      int64
}

func (e *tsExtender) extend(ts uint32) time.Duration {
	if !e.started {
		e.started, e.last, e.ms = true, ts, int64(ts)
	} else {
		e.ms += int64(int32(ts - e.last))
		e.last = ts
	}
	return time.Duration(e.ms) * time.Millisecond
}
