package codec

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// ParseAACConfig parses an AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1).
func ParseAACConfig(b []byte) (mpeg4audio.AudioSpecificConfig, error) {
	var c mpeg4audio.AudioSpecificConfig
	if err := c.Unmarshal(b); err != nil {
		return c, fmt.Errorf("aac config: %w", err)
	}
	if c.SampleRate <= 0 || c.ChannelCount <= 0 {
		return c, fmt.Errorf("aac config: sample rate %d, channels %d", c.SampleRate, c.ChannelCount)
	}
	return c, nil
}
