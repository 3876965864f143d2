package slate

import (
	"fmt"
	"strconv"

	"github.com/relaycast/relaycast/relay"
)

// look is what a slate must match of its stream for viewers' decoders to go on: the codecs,
// the picture's size and H.264 profile, the sound's rate and channels.
type look struct {
	video         relay.Codec // CodecUnknown: none
	width, height int
	profile       byte // H.264 profile_idc
	audio         relay.Codec
	rate, chans   int
}

// Defaults where a stream's tracks do not say.
const (
	defaultWidth, defaultHeight = 1280, 720
	defaultRate, defaultChans   = 48000, 2
	// rate is the slate's pictures a second: a still picture needs few, and a keyframe a
	// second lets a viewer joining the slate start at once.
	fps = 25
	// seconds is the slate's length, played in a loop.
	seconds = 2
)

func lookOf(tracks []*relay.Track) look {
	var l look
	v, a := relay.FirstTracks(tracks, nil)
	if v != nil {
		l.video, l.width, l.height = v.Codec, v.Width, v.Height
		if l.width <= 0 || l.height <= 0 {
			l.width, l.height = defaultWidth, defaultHeight
		}
		if v.Codec == relay.CodecH264 && len(v.Config) > 1 {
			l.profile = v.Config[1] // AVCDecoderConfigurationRecord: version, then profile
		}
	}
	if a != nil {
		l.audio, l.rate, l.chans = a.Codec, a.SampleRate, a.Channels
		if l.rate <= 0 {
			l.rate = defaultRate
		}
		if l.chans <= 0 || l.chans > 2 {
			l.chans = defaultChans
		}
		if a.Codec == relay.CodecOpus {
			l.rate = 48000 // Opus's clock whatever the source's rate
		}
	}
	return l
}

// args are ffmpeg's arguments up to the output file: from the file on fd 3 (fromFile), or
// the card with its words (text) or colour bars, and silence.
func (l look) args(fromFile, text bool) []string {
	size := strconv.Itoa(l.width) + "x" + strconv.Itoa(l.height)
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}
	var maps []string
	hasVideo, hasAudio := l.video != relay.CodecUnknown, l.audio != relay.CodecUnknown
	switch {
	case fromFile:
		args = append(args, "-i", "/dev/fd/3")
		if hasVideo {
			maps = append(maps, "-map", "0:v:0")
		}
		if hasAudio {
			maps = append(maps, "-map", "0:a:0?") // a file without sound makes a silent slate
		}
	default:
		card := fmt.Sprintf("smptehdbars=s=%s:r=%d", size, fps)
		if text {
			card = fmt.Sprintf("color=c=0x1b1f24:s=%s:r=%d,drawtext=text='Stream offline':"+
				"fontcolor=0xd0d4d8:fontsize=h/12:x=(w-tw)/2:y=(h-th)/2", size, fps)
		}
		layout := "stereo"
		if l.chans == 1 {
			layout = "mono"
		}
		for _, in := range []struct {
			on     bool
			source string
		}{{hasVideo, card}, {hasAudio, fmt.Sprintf("anullsrc=r=%d:cl=%s", l.rate, layout)}} {
			if in.on {
				maps = append(maps, "-map", strconv.Itoa(len(maps)/2))
				args = append(args, "-f", "lavfi", "-i", in.source)
			}
		}
	}
	args = append(append(args, "-t", strconv.Itoa(seconds)), maps...)
	if hasVideo {
		args = append(args, l.videoArgs()...)
	}
	if hasAudio {
		args = append(args, l.audioArgs()...)
	}
	return append(args, "-f", "mp4")
}

func (l look) videoArgs() []string {
	w, h := strconv.Itoa(l.width), strconv.Itoa(l.height)
	gop := strconv.Itoa(fps)
	args := []string{"-vf", "scale=" + w + ":" + h + ":force_original_aspect_ratio=decrease,pad=" + w + ":" + h +
		":(ow-iw)/2:(oh-ih)/2,setsar=1,fps=" + strconv.Itoa(fps) + ",format=yuv420p",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0"}
	switch l.video {
	case relay.CodecH265:
		return append(args, "-c:v", "libx265", "-preset", "veryfast", "-tag:v", "hvc1",
			"-x265-params", "bframes=0:keyint="+gop+":min-keyint="+gop+":scenecut=0:log-level=error")
	case relay.CodecVP9:
		return append(args, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k")
	case relay.CodecAV1:
		return append(args, "-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-b:v", "300k")
	default:
		return append(args, "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-bf", "0",
			"-profile:v", h264Profile(l.profile))
	}
}

// h264Profile is x264's name for a profile_idc: the slate keeps the stream's profile, which
// WebRTC viewers negotiated.
func h264Profile(idc byte) string {
	switch idc {
	case 66:
		return "baseline"
	case 77:
		return "main"
	default:
		return "high"
	}
}

func (l look) audioArgs() []string {
	args := []string{"-ar", strconv.Itoa(l.rate), "-ac", strconv.Itoa(l.chans)}
	if l.audio == relay.CodecOpus {
		return append(args, "-c:a", "libopus", "-b:a", "32k")
	}
	return append(args, "-c:a", "aac", "-b:a", "64k")
}
