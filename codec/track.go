package codec

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/relaycast/relaycast/relay"
)

// H264Track makes the relay track an AVCDecoderConfigurationRecord describes (from an FLV
// sequence header, an MP4 avcC box), with its picture size. The record is copied.
func H264Track(record []byte) (*relay.Track, error) {
	cfg, err := ParseH264Config(record)
	if err != nil {
		return nil, err
	}
	w, h, err := cfg.Size()
	if err != nil {
		return nil, err
	}
	return &relay.Track{Codec: relay.CodecH264, ClockRate: 90000, Config: bytes.Clone(record), Width: w, Height: h}, nil
}

// AACTrack makes the relay track an AudioSpecificConfig describes. The config is copied.
func AACTrack(asc []byte) (*relay.Track, error) {
	cfg, err := ParseAACConfig(asc)
	if err != nil {
		return nil, err
	}
	return &relay.Track{Codec: relay.CodecAAC, ClockRate: uint32(cfg.SampleRate), Config: bytes.Clone(asc),
		SampleRate: cfg.SampleRate, Channels: cfg.ChannelCount}, nil
}

// H264Params makes the relay track of an H.264 stream from its SPS and PPS (RTSP's SDP or
// in-band parameter sets), with an AVCDecoderConfigurationRecord of 4-byte NAL lengths.
func H264Params(sps, pps []byte) (*relay.Track, error) {
	if len(sps) < 4 || len(pps) < 1 || len(sps) > 0xffff || len(pps) > 0xffff {
		return nil, fmt.Errorf("h264 parameter sets: sps of %d bytes, pps of %d", len(sps), len(pps))
	}
	rec := make([]byte, 0, 11+len(sps)+len(pps))
	rec = append(rec, 1, sps[1], sps[2], sps[3], 0xfc|3, 0xe0|1, byte(len(sps)>>8), byte(len(sps)))
	rec = append(rec, sps...)
	rec = append(rec, 1, byte(len(pps)>>8), byte(len(pps)))
	rec = append(rec, pps...)
	return H264Track(rec)
}

// AudioFrameSamples is how many samples (in the track's clock) an audio frame lasts.
func AudioFrameSamples(t *relay.Track, payload []byte) int64 {
	if t.Codec == relay.CodecOpus {
		return opus.PacketDuration2(payload)
	}
	return 1024 // AAC
}
