package relay

// Codec names the coding of one elementary stream.
type Codec uint8

// Codecs the relay knows by name. The relay itself never looks inside a payload.
const (
	CodecUnknown Codec = iota
	CodecH264
	CodecAAC
	CodecH265
	CodecAV1
	CodecOpus
	CodecVP9
	// CodecFMP4 is a derived stream of fragmented MP4: Config is the init segment, each
	// frame a fragment (moof+mdat), Key when it starts with a video keyframe.
	CodecFMP4
	// CodecRTP is a derived stream of RTP and RTCP packets in RTSP's interleaved framing
	// ('$', channel, length): one frame per source frame, Key when it starts with a video
	// keyframe. Channel 2i carries media i's RTP, 2i+1 its RTCP.
	CodecRTP
	// CodecMPEGTS is a derived stream of MPEG-TS packets: one frame per source frame, the
	// program tables (PAT, PMT) in front of each video keyframe, Key when it is one.
	CodecMPEGTS
)

func (c Codec) String() string {
	switch c {
	case CodecH264:
		return "h264"
	case CodecAAC:
		return "aac"
	case CodecH265:
		return "hevc"
	case CodecAV1:
		return "av1"
	case CodecOpus:
		return "opus"
	case CodecVP9:
		return "vp9"
	case CodecFMP4:
		return "fmp4"
	case CodecRTP:
		return "rtp"
	case CodecMPEGTS:
		return "mpegts"
	default:
		return "unknown"
	}
}

// IsVideo reports whether frames of this codec carry pictures. Their keyframes mark where a
// new reader may start.
func (c Codec) IsVideo() bool {
	return c == CodecH264 || c == CodecH265 || c == CodecAV1 || c == CodecVP9 || c == CodecFMP4 || c == CodecRTP || c == CodecMPEGTS
}

// Track describes one elementary stream. A Track is immutable once a frame refers to it: a
// publisher whose codec configuration changes makes a new Track, and a reader that sees a
// frame with a Track it has not sent yet sends that Track's Config first.
type Track struct {
	Codec     Codec
	ClockRate uint32 // RTP-style units per second: 90000 for video, the sample rate for audio
	// Config is the decoder configuration in its ISO BMFF form:
	// AVCDecoderConfigurationRecord for H.264, HEVCDecoderConfigurationRecord for H.265,
	// AV1CodecConfigurationRecord for AV1, VPCodecConfigurationRecord (vpcC, with its FullBox
	// version and flags) for VP9, AudioSpecificConfig for AAC, OpusHead for Opus.
	Config []byte

	// What a person wants to see in a stream list; zero when unknown.
	Width, Height int
	SampleRate    int
	Channels      int
}

// FirstTracks returns the first video and the first audio track among tracks whose codec an
// output carries (carries nil: any): every output that takes one of each chooses the same.
func FirstTracks(tracks []*Track, carries func(Codec) bool) (video, audio *Track) {
	for _, t := range tracks {
		switch {
		case carries != nil && !carries(t.Codec):
		case t.Codec.IsVideo() && video == nil:
			video = t
		case !t.Codec.IsVideo() && audio == nil:
			audio = t
		}
	}
	return video, audio
}
