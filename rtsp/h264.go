package rtsp

import (
	"fmt"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
)

// H.264 NAL unit types the packetizer cares about.
const (
	naluIDR = 5
	naluSPS = 7
	naluPPS = 8
)

// avcParams is what the packetizer needs from a track's AVCDecoderConfigurationRecord.
type avcParams struct {
	lengthSize int
	sps, pps   []byte
}

func parseAVCParams(t *relay.Track) (avcParams, error) {
	c, err := ingest.ParseAVCConfig(t.Config)
	if err != nil {
		return avcParams{}, fmt.Errorf("rtsp: %w", err)
	}
	return avcParams{lengthSize: c.LengthSize, sps: c.SPS[0], pps: c.PPS[0]}, nil
}

// splitAVCC appends the NAL units of an AVCC payload to nalus (aliasing payload). For an IDR
// access unit without its own SPS and PPS it puts the track's in front, so players that
// ignore the SDP, or join after a config change, can decode.
func splitAVCC(nalus [][]byte, payload []byte, p avcParams) ([][]byte, error) {
	start := len(nalus)
	hasParams, idr := false, false
	for b := payload; len(b) > 0; {
		if len(b) < p.lengthSize {
			return nalus, fmt.Errorf("rtsp: truncated NAL length")
		}
		n := 0
		for _, c := range b[:p.lengthSize] {
			n = n<<8 | int(c)
		}
		b = b[p.lengthSize:]
		if n == 0 || n > len(b) {
			return nalus, fmt.Errorf("rtsp: NAL unit of %d bytes with %d left", n, len(b))
		}
		switch b[0] & 0x1f {
		case naluSPS, naluPPS:
			hasParams = true
		case naluIDR:
			idr = true
		}
		nalus = append(nalus, b[:n])
		b = b[n:]
	}
	if idr && !hasParams {
		nalus = append(nalus, nil, nil)
		copy(nalus[start+2:], nalus[start:len(nalus)-2])
		nalus[start], nalus[start+1] = p.sps, p.pps
	}
	return nalus, nil
}
