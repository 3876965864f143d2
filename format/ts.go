package format

import (
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/substructs"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// TSOffset is what a TSWriter adds to every timestamp by default: the muxer stamps the clock
// reference 100 ms before a frame's DTS, which at a stream's first frame would be negative.
const TSOffset = time.Second

// TSWriter writes the frames of a video (H.264, H.265) and an audio (AAC, Opus) track (either
// may be nil) as MPEG-TS,
// with mediacommon's writer. Each keyframe gets SPS and PPS in front, since a TS stream has
// no out-of-band configuration, and the program tables (PAT, PMT) come before it, so a
// reader may start at any keyframe.
type TSWriter struct {
	w            *mpegts.Writer
	video, audio *mpegts.Track
	videoCodec   relay.Codec
	audioCodec   relay.Codec
	params       codec.NALConfig
	nalus        [][]byte
	offset       time.Duration
}

// NewTSWriter returns a writer to w for these tracks; offset is added to every timestamp.
func NewTSWriter(w io.Writer, video, audio *relay.Track, offset time.Duration) (*TSWriter, error) {
	t := &TSWriter{w: &mpegts.Writer{W: w}, offset: offset}
	if video != nil {
		var err error
		if t.params, err = codec.ParseNALConfig(video); err != nil {
			return nil, err
		}
		t.video, t.videoCodec = &mpegts.Track{Codec: &tscodecs.H264{}}, video.Codec
		if video.Codec == relay.CodecH265 {
			t.video.Codec = &tscodecs.H265{}
		}
		t.w.Tracks = append(t.w.Tracks, t.video)
	}
	switch {
	case audio != nil && audio.Codec == relay.CodecOpus:
		c, err := codec.ParseOpusConfig(audio.Config)
		if err != nil {
			return nil, err
		}
		t.audio, t.audioCodec = &mpegts.Track{Codec: &tscodecs.Opus{
			Desc: &substructs.OpusAudioDescriptor{ChannelConfigCode: uint8(c.Channels)}}}, relay.CodecOpus
		t.w.Tracks = append(t.w.Tracks, t.audio)
	case audio != nil:
		asc, err := codec.ParseAACConfig(audio.Config)
		if err != nil {
			return nil, err
		}
		t.audio, t.audioCodec = &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: asc}}, relay.CodecAAC
		t.w.Tracks = append(t.w.Tracks, t.audio)
	}
	if len(t.w.Tracks) == 0 {
		return nil, fmt.Errorf("mpegts: no track MPEG-TS carries")
	}
	if err := t.w.Initialize(); err != nil {
		return nil, fmt.Errorf("mpegts: %w", err)
	}
	return t, nil
}

// PIDs returns the packet identifiers of the tracks.
func (t *TSWriter) PIDs() []uint16 {
	var pids []uint16
	for _, tr := range []*mpegts.Track{t.video, t.audio} {
		if tr != nil {
			pids = append(pids, tr.PID)
		}
	}
	return pids
}

// Write writes one frame of the track of codec c; frames of a codec without a track are
// skipped.
func (t *TSWriter) Write(c relay.Codec, dts, pts time.Duration, payload []byte) error {
	var err error
	switch {
	case c == t.videoCodec && t.video != nil:
		if t.nalus, err = t.params.AccessUnit(t.nalus[:0], payload); err == nil && len(t.nalus) > 0 {
			if c == relay.CodecH265 {
				err = t.w.WriteH265(t.video, t.ticks(pts), t.ticks(dts), t.nalus)
			} else {
				err = t.w.WriteH264(t.video, t.ticks(pts), t.ticks(dts), t.nalus)
			}
		}
	case c == t.audioCodec && c == relay.CodecOpus:
		err = t.w.WriteOpus(t.audio, t.ticks(pts), [][]byte{payload})
	case c == t.audioCodec && t.audio != nil:
		err = t.w.WriteMPEG4Audio(t.audio, t.ticks(pts), [][]byte{payload})
	}
	if err != nil {
		return fmt.Errorf("mpegts %s: %w", c, err)
	}
	return nil
}

func (t *TSWriter) ticks(d time.Duration) int64 {
	return codec.Ticks(d+t.offset, 90000)
}
