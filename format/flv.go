package format

import (
	"errors"
	"fmt"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// FLV tags as RTMP carries them and FLV files hold them: the legacy tags of H.264 and AAC
// (Adobe FLV spec 10.1, annex E.4.2/E.4.3) and enhanced RTMP's (E-RTMP v2), whose first
// byte has a packet type and a FourCC after it: a video tag with the top bit set, an audio
// tag of sound format 9. One reader of their headers serves RTMP publishers, pulls and FLV
// files alike, and one writer RTMP players and pushes.

// FLV tag types.
const (
	FLVAudio  = 8
	FLVVideo  = 9
	FLVScript = 18
)

const (
	flvCodecAVC   = 7
	flvSoundAAC   = 10
	flvSoundEx    = 9
	flvFrameKey   = 1
	flvAVCHeader  = 5 // frame type/codec, AVC packet type, composition time
	flvAACHeader  = 2 // sound format/rate/size/type, AAC packet type
	flvExHeader   = 5 // type byte and FourCC
	flvCommand    = 5 // video frame type of a command frame, not a picture
	exSeqStart    = 0
	exCodedFrames = 1 // video: with a composition time
	exSeqEnd      = 2
	exFramesX     = 3 // video: without one
	exMetadata    = 4
	exMultichan   = 4 // audio
	exMultitrackA = 5
	exMultitrackV = 6
)

// ErrUnsupported marks media the server cannot relay (another codec); the caller may skip
// such tags and keep the rest of the stream.
var ErrUnsupported = errors.New("unsupported media")

// FLVKind is what a tag holds.
type FLVKind uint8

const (
	FLVSkip   FLVKind = iota // nothing to play: end of sequence, metadata, a command
	FLVConfig                // the codec configuration (a sequence header / start)
	FLVFrame                 // a coded picture or audio frame
)

// FLVTag is what the header of a video or audio tag body says; the tag's data (the
// configuration or the frame) is body[Data:].
type FLVTag struct {
	Kind  FLVKind
	Codec relay.Codec
	Key   bool          // a video keyframe, as the frame type says
	CTS   time.Duration // composition time: PTS - DTS
	Data  int
}

// flvFourCCs name the codecs enhanced RTMP carries by FourCC.
var flvFourCCs = map[string]relay.Codec{"hvc1": relay.CodecH265, "avc1": relay.CodecH264, "av01": relay.CodecAV1,
	"vp09": relay.CodecVP9, "mp4a": relay.CodecAAC, "Opus": relay.CodecOpus}

// ParseFLVVideo reads the header of a video tag body.
func ParseFLVVideo(body []byte) (FLVTag, error) {
	if len(body) < 1 {
		return FLVTag{}, errors.New("flv video: empty tag")
	}
	if body[0]&0x80 != 0 {
		return parseExVideo(body)
	}
	if c := body[0] & 0x0f; c != flvCodecAVC {
		return FLVTag{}, fmt.Errorf("flv video: %w: codec id %d (only H.264/AVC, and H.265 over enhanced RTMP)", ErrUnsupported, c)
	}
	if len(body) < flvAVCHeader {
		return FLVTag{}, fmt.Errorf("flv video: AVC tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	t := FLVTag{Codec: relay.CodecH264, Key: body[0]>>4 == flvFrameKey, CTS: cts24(body[2:]), Data: flvAVCHeader}
	switch body[1] {
	case 0:
		t.Kind = FLVConfig
	case 1:
		t.Kind = FLVFrame
	case 2: // end of sequence
	default:
		return FLVTag{}, fmt.Errorf("flv video: AVC packet type %d", body[1])
	}
	return t, nil
}

func parseExVideo(body []byte) (FLVTag, error) {
	frameType, packetType := body[0]>>4&0x07, body[0]&0x0f
	if packetType == exMultitrackV {
		return FLVTag{}, fmt.Errorf("flv video: %w: enhanced RTMP multitrack video (one track per stream is carried)", ErrUnsupported)
	}
	if len(body) < flvExHeader {
		return FLVTag{}, fmt.Errorf("flv video: enhanced tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	t, err := exVideo(frameType, packetType, body[1:5], body[flvExHeader:])
	t.Data += flvExHeader
	return t, err
}

// exVideo reads what follows the FourCC of one enhanced video track: its Data counts from
// rest.
func exVideo(frameType, packetType byte, fourCC, rest []byte) (FLVTag, error) {
	c, ok := flvFourCCs[string(fourCC)]
	if !ok || !c.IsVideo() {
		return FLVTag{}, fmt.Errorf("flv video: %w: enhanced RTMP codec %q (H.265, AV1, VP9 and H.264 are carried)", ErrUnsupported, fourCC)
	}
	t := FLVTag{Codec: c, Key: frameType == flvFrameKey}
	switch {
	case frameType == flvCommand || packetType == exSeqEnd || packetType == exMetadata:
	case packetType == exSeqStart:
		t.Kind = FLVConfig
	case packetType == exCodedFrames && (c == relay.CodecH264 || c == relay.CodecH265):
		if len(rest) < 3 {
			return FLVTag{}, fmt.Errorf("flv video: enhanced coded frames of %d bytes: %w", len(rest), codec.ErrShort)
		}
		t.Kind, t.CTS, t.Data = FLVFrame, cts24(rest), 3
	case packetType == exCodedFrames || packetType == exFramesX: // AV1 and VP9 have no composition time
		t.Kind = FLVFrame
	default:
		return FLVTag{}, fmt.Errorf("flv video: %w: enhanced RTMP video packet type %d", ErrUnsupported, packetType)
	}
	return t, nil
}

// Multitrack layouts (E-RTMP v2): one track with its id; several of one codec, each with
// its id and size; several with a FourCC each too.
const (
	multiOneTrack = iota
	multiManyTracks
	multiManyCodecs
)

// EachFLVVideo reads a video tag body that may carry several tracks (enhanced RTMP
// multitrack: an encoder's renditions) and calls fn with each track's id (0 for a tag
// without tracks), header and data. fn must not keep data. A multitrack frame's type is
// its first track's: encoders' renditions are keyframe-aligned, and some (gortmplib) leave
// it unset, so callers of codecs that say it in their data read it there.
func EachFLVVideo(body []byte, fn func(track uint8, tag FLVTag, data []byte) error) error {
	if !FLVMultitrackVideo(body) {
		tag, err := ParseFLVVideo(body)
		if err != nil {
			return err
		}
		return fn(0, tag, body[tag.Data:])
	}
	frameType := body[0] >> 4 & 0x07
	return eachTrack(body, "video", func(id uint8, packetType byte, fourCC, rest []byte) error {
		tag, err := exVideo(frameType, packetType, fourCC, rest)
		if err != nil {
			return fmt.Errorf("track %d: %w", id, err)
		}
		return fn(id, tag, rest[tag.Data:])
	})
}

// FLVMultitrackVideo reports whether a video tag body is enhanced RTMP multitrack.
func FLVMultitrackVideo(body []byte) bool {
	return len(body) >= 2 && body[0]&0x80 != 0 && body[0]&0x0f == exMultitrackV
}

// EachFLVAudio is EachFLVVideo for an audio tag body.
func EachFLVAudio(body []byte, fn func(track uint8, tag FLVTag, data []byte) error) error {
	if len(body) < 2 || body[0]>>4 != flvSoundEx || body[0]&0x0f != exMultitrackA {
		tag, err := ParseFLVAudio(body)
		if err != nil {
			return err
		}
		return fn(0, tag, body[tag.Data:])
	}
	return eachTrack(body, "audio", func(id uint8, packetType byte, fourCC, rest []byte) error {
		tag, err := exAudio(packetType, fourCC)
		if err != nil {
			return fmt.Errorf("track %d: %w", id, err)
		}
		return fn(id, tag, rest)
	})
}

// eachTrack walks the tracks of a multitrack tag body.
func eachTrack(body []byte, kind string, fn func(id uint8, packetType byte, fourCC, rest []byte) error) error {
	layout, packetType := body[1]>>4, body[1]&0x0f
	if layout > multiManyCodecs {
		return fmt.Errorf("flv %s: %w: multitrack type %d", kind, ErrUnsupported, layout)
	}
	b := body[2:]
	var fourCC []byte
	if layout != multiManyCodecs {
		if len(b) < 4 {
			return fmt.Errorf("flv %s: multitrack tag of %d bytes: %w", kind, len(body), codec.ErrShort)
		}
		fourCC, b = b[:4], b[4:]
	}
	for len(b) > 0 {
		if layout == multiManyCodecs {
			if len(b) < 4 {
				return fmt.Errorf("flv %s: multitrack FourCC cut: %w", kind, codec.ErrShort)
			}
			fourCC, b = b[:4], b[4:]
		}
		if len(b) < 1 {
			return fmt.Errorf("flv %s: multitrack track id cut: %w", kind, codec.ErrShort)
		}
		id, rest := b[0], b[1:]
		b = nil
		if layout != multiOneTrack {
			if len(rest) < 3 {
				return fmt.Errorf("flv %s: multitrack track size cut: %w", kind, codec.ErrShort)
			}
			n := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
			if n > len(rest)-3 {
				return fmt.Errorf("flv %s: multitrack track %d of %d bytes in %d: %w", kind, id, n, len(rest)-3, codec.ErrShort)
			}
			rest, b = rest[3:3+n], rest[3+n:]
		}
		if err := fn(id, packetType, fourCC, rest); err != nil {
			return err
		}
	}
	return nil
}

// ParseFLVAudio reads the header of an audio tag body.
func ParseFLVAudio(body []byte) (FLVTag, error) {
	if len(body) < 1 {
		return FLVTag{}, errors.New("flv audio: empty tag")
	}
	switch format := body[0] >> 4; format {
	case flvSoundEx:
		return parseExAudio(body)
	case flvSoundAAC:
	default:
		return FLVTag{}, fmt.Errorf("flv audio: %w: sound format %d (only AAC)", ErrUnsupported, format)
	}
	if len(body) < flvAACHeader {
		return FLVTag{}, fmt.Errorf("flv audio: AAC tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	t := FLVTag{Codec: relay.CodecAAC, Key: true, Data: flvAACHeader}
	switch body[1] {
	case 0:
		t.Kind = FLVConfig
	case 1:
		t.Kind = FLVFrame
	default:
		return FLVTag{}, fmt.Errorf("flv audio: AAC packet type %d", body[1])
	}
	return t, nil
}

func parseExAudio(body []byte) (FLVTag, error) {
	packetType := body[0] & 0x0f
	if packetType == exMultitrackA {
		return FLVTag{}, fmt.Errorf("flv audio: %w: enhanced RTMP multitrack audio (one track per stream is carried)", ErrUnsupported)
	}
	if len(body) < flvExHeader {
		return FLVTag{}, fmt.Errorf("flv audio: enhanced tag of %d bytes: %w", len(body), codec.ErrShort)
	}
	t, err := exAudio(packetType, body[1:5])
	t.Data = flvExHeader
	return t, err
}

func exAudio(packetType byte, fourCC []byte) (FLVTag, error) {
	c, ok := flvFourCCs[string(fourCC)]
	if !ok || c.IsVideo() {
		return FLVTag{}, fmt.Errorf("flv audio: %w: enhanced RTMP codec %q (AAC and Opus are carried)", ErrUnsupported, fourCC)
	}
	t := FLVTag{Codec: c, Key: true}
	switch packetType {
	case exSeqStart:
		t.Kind = FLVConfig
	case exCodedFrames:
		t.Kind = FLVFrame
	case exSeqEnd, exMultichan:
	default:
		return FLVTag{}, fmt.Errorf("flv audio: %w: enhanced RTMP audio packet type %d", ErrUnsupported, packetType)
	}
	return t, nil
}

// cts24 reads a composition time: signed 24-bit milliseconds.
func cts24(b []byte) time.Duration {
	return time.Duration(int32(uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2]))<<8>>8) * time.Millisecond
}

// FLVEnhanced are the codecs only enhanced RTMP carries, which a player must announce in the
// fourCcList of its connect.
var FLVEnhanced = []relay.Codec{relay.CodecH265, relay.CodecAV1, relay.CodecVP9, relay.CodecOpus}

// FLVFourCC returns the enhanced RTMP FourCC of c ("hvc1"…), and whether only enhanced RTMP
// carries c.
func FLVFourCC(c relay.Codec) (string, bool) {
	switch c {
	case relay.CodecH265:
		return "hvc1", true
	case relay.CodecAV1:
		return "av01", true
	case relay.CodecVP9:
		return "vp09", true
	case relay.CodecOpus:
		return "Opus", true
	}
	return "", false
}

// FLVFrameHeader appends to dst the bytes of f's tag that come before its payload (legacy
// for H.264 and AAC, enhanced for the rest) and reports whether FLV carries f's codec. The
// tag's type is video for a video codec, audio otherwise.
func FLVFrameHeader(dst []byte, f *relay.Frame) ([]byte, bool) {
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
		mode := byte(exFramesX)
		if c == relay.CodecH265 {
			mode = exCodedFrames
		}
		fourCC, _ := FLVFourCC(c)
		h = append(h, 0x80|frameType<<4|mode)
		h = append(h, fourCC...)
		switch c {
		case relay.CodecH265:
			h = appendCTS(h, f)
		case relay.CodecAV1:
			h = append(h, 0x12, 0) // a temporal delimiter, which ffmpeg wants and MP4-style payloads lack
		}
	case relay.CodecAAC:
		h = append(h, 0xaf, 1) // AAC, raw
	case relay.CodecOpus:
		h = append(append(h, flvSoundEx<<4|exCodedFrames), "Opus"...)
	default:
		return dst, false
	}
	return h, true
}

// FLVConfigHeader returns the bytes of t's sequence header tag that come before its config,
// and whether FLV carries t's codec.
func FLVConfigHeader(t *relay.Track) ([]byte, bool) {
	switch t.Codec {
	case relay.CodecH264:
		return []byte{0x17, 0, 0, 0, 0}, true
	case relay.CodecAAC:
		return []byte{0xaf, 0}, true
	case relay.CodecH265, relay.CodecAV1, relay.CodecVP9:
		fourCC, _ := FLVFourCC(t.Codec)
		return append([]byte{0x80 | 1<<4 | exSeqStart}, fourCC...), true
	case relay.CodecOpus:
		return append([]byte{flvSoundEx<<4 | exSeqStart}, "Opus"...), true
	}
	return nil, false
}

// appendCTS appends a frame's composition time: signed 24-bit milliseconds.
func appendCTS(h []byte, f *relay.Frame) []byte {
	cts := int32((f.PTS - f.DTS) / time.Millisecond)
	return append(h, byte(cts>>16), byte(cts>>8), byte(cts))
}

// FLVFileTag is one tag of an FLV file. Body aliases the file's bytes.
type FLVFileTag struct {
	Type      byte
	Timestamp uint32 // milliseconds
	Body      []byte
}

// ParseFLVFile splits a whole FLV file into its tags.
func ParseFLVFile(b []byte) ([]FLVFileTag, error) {
	if len(b) < 9 || string(b[:3]) != "FLV" {
		return nil, errors.New("flv file: no FLV signature")
	}
	off := int(uint32(b[5])<<24 | uint32(b[6])<<16 | uint32(b[7])<<8 | uint32(b[8]))
	if off < 9 || off > len(b) {
		return nil, fmt.Errorf("flv file: header size %d", off)
	}
	b = b[off:]
	var tags []FLVFileTag
	for {
		if len(b) < 4 { // PreviousTagSize
			return tags, nil
		}
		b = b[4:]
		if len(b) == 0 {
			return tags, nil
		}
		if len(b) < 11 {
			return nil, fmt.Errorf("flv file: tag header %w", codec.ErrShort)
		}
		size := int(uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
		ts := uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]) | uint32(b[7])<<24
		if len(b) < 11+size {
			return nil, fmt.Errorf("flv file: tag of %d bytes: %w", size, codec.ErrShort)
		}
		tags = append(tags, FLVFileTag{Type: b[0] & 0x1f, Timestamp: ts, Body: b[11 : 11+size]})
		b = b[11+size:]
	}
}
