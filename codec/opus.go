package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/relaycast/relaycast/relay"
)

// OpusConfig is what relaycast reads of an Opus identification header (OpusHead, RFC 7845
// 5.1).
type OpusConfig struct {
	Channels int
	PreSkip  int // samples at 48 kHz
}

// ParseOpusConfig parses an OpusHead.
func ParseOpusConfig(b []byte) (OpusConfig, error) {
	var c OpusConfig
	if len(b) < 19 || !bytes.HasPrefix(b, []byte("OpusHead")) {
		return c, errors.New("opus config: not an OpusHead")
	}
	if b[8]>>4 != 0 { // major version 0: 1, or any minor revision of it
		return c, fmt.Errorf("opus config: version %d", b[8])
	}
	c.Channels, c.PreSkip = int(b[9]), int(binary.LittleEndian.Uint16(b[10:]))
	if c.Channels == 0 || c.Channels > 2 && b[18] == 0 {
		return c, fmt.Errorf("opus config: %d channels", c.Channels)
	}
	return c, nil
}

// OpusTrack makes the relay track an OpusHead describes; Opus runs at 48 kHz whatever the
// input's rate was. The header is copied.
func OpusTrack(head []byte) (*relay.Track, error) {
	c, err := ParseOpusConfig(head)
	if err != nil {
		return nil, err
	}
	return &relay.Track{Codec: relay.CodecOpus, ClockRate: 48000, Config: bytes.Clone(head), SampleRate: 48000, Channels: c.Channels}, nil
}

// OpusParams makes the relay track of an Opus stream that names only its channels (RTSP's
// SDP, MPEG-TS), with an OpusHead for them.
func OpusParams(channels int) (*relay.Track, error) {
	if channels < 1 || channels > 2 {
		return nil, fmt.Errorf("opus: %d channels (mono and stereo are carried)", channels)
	}
	head := []byte("OpusHead")
	head = append(head, 1, byte(channels), 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0) // pre-skip 312, 48000 Hz, gain 0, family 0
	return OpusTrack(head)
}
