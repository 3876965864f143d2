package format

import (
	"errors"
	"fmt"

	mfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// Track IDs and the video time scale of the fragmented MP4 the server writes (browsers'
// fMP4, HLS VOD).
const (
	FMP4VideoID    = 1
	FMP4AudioID    = 2
	FMP4VideoScale = 90000
)

// InFMP4 says whether the fMP4 the server writes can carry frames of c.
func InFMP4(c relay.Codec) bool {
	switch c {
	case relay.CodecH264, relay.CodecH265, relay.CodecAV1, relay.CodecVP9, relay.CodecAAC, relay.CodecOpus:
		return true
	}
	return false
}

// VideoSampleEntry returns the MP4 sample entry of a video track (avc1, hvc1) and its
// RFC 6381 codecs string.
func VideoSampleEntry(t *relay.Track) (mp4.Codec, string, error) {
	switch t.Codec {
	case relay.CodecH264:
		c, err := codec.ParseH264Config(t.Config)
		if err != nil {
			return nil, "", err
		}
		return &mp4.CodecH264{SPS: c.SPS[0], PPS: c.PPS[0]}, fmt.Sprintf("avc1.%02X%02X%02X", c.Profile, c.Compatibility, c.Level), nil
	case relay.CodecH265:
		c, err := codec.ParseH265Config(t.Config)
		if err != nil {
			return nil, "", err
		}
		return &mp4.CodecH265{VPS: c.VPS[0], SPS: c.SPS[0], PPS: c.PPS[0]}, c.CodecString(), nil
	case relay.CodecAV1:
		c, err := codec.ParseAV1Config(t.Config)
		if err != nil {
			return nil, "", err
		}
		return &mp4codecs.AV1{SequenceHeader: c.SequenceHeader}, c.CodecString(), nil
	case relay.CodecVP9:
		c, err := codec.ParseVP9Config(t.Config)
		if err != nil {
			return nil, "", err
		}
		return &mp4codecs.VP9{Width: t.Width, Height: t.Height, Profile: c.Profile, BitDepth: c.BitDepth,
			ChromaSubsampling: c.ChromaSubsampling, ColorRange: c.FullRange}, c.CodecString(), nil
	}
	return nil, "", fmt.Errorf("no MP4 sample entry for %s", t.Codec)
}

// AudioSampleEntry returns the MP4 sample entry of an audio track (mp4a, Opus) and its
// codecs string. The track's time scale is its ClockRate (the sample rate; Opus: 48 kHz).
func AudioSampleEntry(t *relay.Track) (mp4.Codec, string, error) {
	switch t.Codec {
	case relay.CodecAAC:
		asc, err := codec.ParseAACConfig(t.Config)
		if err != nil {
			return nil, "", err
		}
		return &mp4.CodecMPEG4Audio{Config: asc}, fmt.Sprintf("mp4a.40.%d", asc.Type), nil
	case relay.CodecOpus:
		c, err := codec.ParseOpusConfig(t.Config)
		if err != nil {
			return nil, "", err
		}
		return &mp4codecs.Opus{ChannelCount: c.Channels}, "opus", nil
	}
	return nil, "", fmt.Errorf("no MP4 sample entry for %s", t.Codec)
}

// FMP4Init is the init segment (ftyp+moov) for a video (H.264, H.265) and/or AAC track, with the RFC 6381
// codecs strings (avc1.PPCCLL, mp4a.40.N) for a MIME type or a playlist. The audio track's
// time scale is its sample rate.
func FMP4Init(video, audio *relay.Track) (init []byte, codecs []string, err error) {
	var in mfmp4.Init
	if video != nil {
		entry, str, err := VideoSampleEntry(video)
		if err != nil {
			return nil, nil, err
		}
		in.Tracks = append(in.Tracks, &mfmp4.InitTrack{ID: FMP4VideoID, TimeScale: FMP4VideoScale, Codec: entry})
		codecs = append(codecs, str)
	}
	if audio != nil {
		entry, str, err := AudioSampleEntry(audio)
		if err != nil {
			return nil, nil, err
		}
		in.Tracks = append(in.Tracks, &mfmp4.InitTrack{ID: FMP4AudioID, TimeScale: audio.ClockRate, Codec: entry})
		codecs = append(codecs, str)
	}
	if len(in.Tracks) == 0 {
		return nil, nil, errors.New("fmp4 init: no track fMP4 carries")
	}
	var buf seekablebuffer.Buffer
	if err := in.Marshal(&buf); err != nil {
		return nil, nil, fmt.Errorf("fmp4 init: %w", err)
	}
	return buf.Bytes(), codecs, nil
}
