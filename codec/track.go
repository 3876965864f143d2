package codec

import (
	"bytes"

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
