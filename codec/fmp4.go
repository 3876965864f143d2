package codec

import (
	"errors"
	"fmt"

	mfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

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
	return c == relay.CodecH264 || c == relay.CodecH265 || c == relay.CodecAAC
}

// VideoSampleEntry returns the MP4 sample entry of a video track (avc1, hvc1) and its
// RFC 6381 codecs string.
func VideoSampleEntry(t *relay.Track) (mp4.Codec, string, error) {
	switch t.Codec {
	case relay.CodecH264:
		c, err := ParseH264Config(t.Config)
		if err != nil {
			return nil, "", err
		}
		return &mp4.CodecH264{SPS: c.SPS[0], PPS: c.PPS[0]}, fmt.Sprintf("avc1.%02X%02X%02X", c.Profile, c.Compatibility, c.Level), nil
	case relay.CodecH265:
		c, err := ParseH265Config(t.Config)
		if err != nil {
			return nil, "", err
		}
		return &mp4.CodecH265{VPS: c.VPS[0], SPS: c.SPS[0], PPS: c.PPS[0]}, c.CodecString(), nil
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
		asc, err := ParseAACConfig(audio.Config)
		if err != nil {
			return nil, nil, err
		}
		in.Tracks = append(in.Tracks, &mfmp4.InitTrack{ID: FMP4AudioID, TimeScale: uint32(asc.SampleRate),
			Codec: &mp4.CodecMPEG4Audio{Config: asc}})
		codecs = append(codecs, fmt.Sprintf("mp4a.40.%d", asc.Type))
	}
	if len(in.Tracks) == 0 {
		return nil, nil, errors.New("fmp4 init: no H.264, H.265 or AAC track")
	}
	var buf seekablebuffer.Buffer
	if err := in.Marshal(&buf); err != nil {
		return nil, nil, fmt.Errorf("fmp4 init: %w", err)
	}
	return buf.Bytes(), codecs, nil
}
