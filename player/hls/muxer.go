package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

// muxer is the one reader of a relay stream for HLS clients (Safari and iOS, VLC, ffmpeg,
// CDNs): gohlslib cuts LL-HLS segments and parts in memory and answers the playlist requests,
// blocking ones included.
type muxer struct {
	src          *relay.Stream
	lib          *gohlslib.Muxer
	video, audio *gohlslib.Track
	srcVideo     *relay.Track
	srcAudio     *relay.Track
	params       codec.NALConfig
	nalus        [][]byte
	epoch        time.Time
	log          *slog.Logger
	// reports are the rendition reports of the presentation src belongs to (LL-HLS); set
	// before the muxer is handed out, nil: none
	reports func() []*playlist.MediaRenditionReport
}

// renditionReports gives gohlslib the presentation's rendition reports.
func (h *muxer) renditionReports() []*playlist.MediaRenditionReport {
	if h.reports == nil {
		return nil
	}
	return h.reports()
}

// newMuxer is the LL-HLS muxer of src (fMP4 segments of 1 s, parts of 200 ms), or with ts
// set the MPEG-TS one (segments of 2 s, no parts) for players without fMP4 or LL-HLS.
// A segment starts at the first keyframe in a later cell of the segment duration on the
// stream's timeline (by presentation time, a gohlslib patch), so the muxers of a stream's
// renditions cut at the same pictures wherever each started.
func newMuxer(src *relay.Stream, tracks []*relay.Track, ts bool, log *slog.Logger) (*muxer, error) {
	h := &muxer{src: src, log: log}
	lib := &gohlslib.Muxer{
		Variant:            gohlslib.MuxerVariantLowLatency,
		SegmentCount:       7,
		SegmentMinDuration: time.Second,
		// Parts of 6 frames at 30 fps. At 200 ms exactly, a part whose frames' millisecond
		// timestamps (RTMP's) add up to 199 ms takes a 7th frame: parts of 199 and 233 ms
		// are too far apart for one part target, which each part must fill to 85 %.
		PartMinDuration: 190 * time.Millisecond,
		// Warnings of the muxer; the frame is muxed.
		OnEncodeError:    func(err error) { log.Warn("hls muxer", "err", err) },
		RenditionReports: h.renditionReports,
	}
	carries := format.InFMP4
	if ts {
		lib.Variant, lib.SegmentMinDuration, lib.PartMinDuration = gohlslib.MuxerVariantMPEGTS, 2*time.Second, 0
		carries = format.TSCarries
	}
	video, audio := relay.FirstTracks(tracks, carries)
	if video != nil {
		vt, params, err := videoTrack(video)
		if err != nil {
			return nil, fmt.Errorf("hls: %w", err)
		}
		h.video, h.srcVideo, h.params = vt, video, params
		lib.Tracks = append(lib.Tracks, h.video)
	}
	if audio != nil {
		a, err := audioTrack(audio)
		if err != nil {
			return nil, fmt.Errorf("hls: %w", err)
		}
		h.audio, h.srcAudio = a, audio
		lib.Tracks = append(lib.Tracks, h.audio)
	}
	if len(lib.Tracks) == 0 {
		return nil, errors.New("hls: stream has no track HLS carries")
	}
	if err := lib.Start(); err != nil {
		return nil, fmt.Errorf("hls: %w", err)
	}
	h.lib = lib
	return h, nil
}

func (h *muxer) Run(ctx context.Context) {
	defer h.lib.Close()
	r := h.src.NewReader()
	defer r.Close()
	for {
		f, err := r.Next(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, relay.ErrEnded) {
				h.log.Warn("hls muxer stopped", "err", err)
			}
			return
		}
		if err := h.write(f); err != nil {
			h.log.Warn("hls: frame not muxed", "err", err)
		}
	}
}

func (h *muxer) write(f *relay.Frame) error {
	if h.epoch.IsZero() {
		// the program date-times of a stream's renditions agree: players that switch
		// between variants by them land on the same picture
		if h.src != nil { // (a muxer test's has none)
			h.epoch = h.src.Epoch()
		}
		if h.epoch.IsZero() {
			h.epoch = time.Now().Add(-f.PTS)
		}
	}
	ntp := h.epoch.Add(f.PTS)
	switch {
	case h.video != nil && f.Track.Codec == relay.CodecAV1 && h.srcVideo.Codec == relay.CodecAV1:
		tu, err := codec.AV1Units(f.Payload)
		if err != nil {
			return fmt.Errorf("hls: %w", err)
		}
		return h.lib.WriteAV1(h.video, ntp, codec.Ticks(f.PTS, videoTimeScale), tu)
	case h.video != nil && f.Track.Codec == relay.CodecVP9 && h.srcVideo.Codec == relay.CodecVP9:
		return h.lib.WriteVP9(h.video, ntp, codec.Ticks(f.PTS, videoTimeScale), f.Payload)
	case h.video != nil && f.Track.Codec == h.srcVideo.Codec:
		// gohlslib finds DTS from the SPS, so every keyframe must carry it in-band; a
		// publisher that took over with other settings brings its own.
		if f.Track != h.srcVideo {
			c, err := codec.ParseNALConfig(f.Track)
			if err != nil {
				return fmt.Errorf("hls: %w", err)
			}
			h.srcVideo, h.params = f.Track, c
		}
		// gohlslib keeps none of the slice (it copies the NAL units into its own sample), so
		// it is reused from frame to frame.
		au, err := h.params.AccessUnit(h.nalus[:0], f.Payload)
		if err != nil {
			return fmt.Errorf("hls: %w", err)
		}
		h.nalus = au
		defer clear(h.nalus)
		if f.Track.Codec == relay.CodecH265 {
			return h.lib.WriteH265(h.video, ntp, codec.Ticks(f.PTS, videoTimeScale), au)
		}
		return h.lib.WriteH264(h.video, ntp, codec.Ticks(f.PTS, videoTimeScale), au)
	case h.audio != nil && f.Track.Codec == h.srcAudio.Codec && f.Track.Codec == relay.CodecOpus:
		return h.lib.WriteOpus(h.audio, ntp, codec.Ticks(f.PTS, int64(h.audio.ClockRate)), [][]byte{f.Payload})
	case h.audio != nil && f.Track.Codec == h.srcAudio.Codec:
		return h.lib.WriteMPEG4Audio(h.audio, ntp, codec.Ticks(f.PTS, int64(h.audio.ClockRate)), [][]byte{f.Payload})
	}
	return nil
}

// videoTrack is gohlslib's track of an H.264, H.265, AV1 or VP9 relay track, and for H.26x
// its parameter sets, which every keyframe given to gohlslib carries.
func videoTrack(t *relay.Track) (*gohlslib.Track, codec.NALConfig, error) {
	switch t.Codec {
	case relay.CodecAV1:
		c, err := codec.ParseAV1Config(t.Config)
		if err != nil {
			return nil, codec.NALConfig{}, err
		}
		return &gohlslib.Track{Codec: &codecs.AV1{SequenceHeader: c.SequenceHeader}, ClockRate: videoTimeScale}, codec.NALConfig{}, nil
	case relay.CodecVP9:
		c, err := codec.ParseVP9Config(t.Config)
		if err != nil {
			return nil, codec.NALConfig{}, err
		}
		return &gohlslib.Track{Codec: &codecs.VP9{Width: t.Width, Height: t.Height, Profile: c.Profile,
			BitDepth: c.BitDepth, ChromaSubsampling: c.ChromaSubsampling, ColorRange: c.FullRange}, ClockRate: videoTimeScale}, codec.NALConfig{}, nil
	}
	c, err := codec.ParseNALConfig(t)
	if err != nil {
		return nil, codec.NALConfig{}, err
	}
	ps := c.Params()
	var vc codecs.Codec = &codecs.H264{SPS: ps[0], PPS: ps[1]}
	if t.Codec == relay.CodecH265 {
		vc = &codecs.H265{VPS: ps[0], SPS: ps[1], PPS: ps[2]}
	}
	return &gohlslib.Track{Codec: vc, ClockRate: videoTimeScale}, c, nil
}

// audioTrack is gohlslib's track of an AAC or Opus relay track.
func audioTrack(t *relay.Track) (*gohlslib.Track, error) {
	if t.Codec == relay.CodecOpus {
		c, err := codec.ParseOpusConfig(t.Config)
		if err != nil {
			return nil, err
		}
		return &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: c.Channels}, ClockRate: 48000}, nil
	}
	asc, err := codec.ParseAACConfig(t.Config)
	if err != nil {
		return nil, err
	}
	return &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: asc}, ClockRate: asc.SampleRate}, nil
}

// handle answers one HLS request; gohlslib leaves a name it does not know unanswered, which
// becomes a 404 here.
func (h *muxer) handle(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/"+gapSegment) {
		w.Header().Set("Content-Type", "video/mp4")
		w.WriteHeader(http.StatusOK)
		return
	}
	cw := newCachedWriter(w, r)
	h.lib.Handle(cw, r)
	if !cw.wrote {
		http.NotFound(w, r)
		return
	}
	cw.finish()
}

// gapSegment is the URI gohlslib gives the EXT-X-GAP segments that fill a young LL-HLS
// playlist (iOS wants a full window from the start). A client that does not know EXT-X-GAP,
// like ffmpeg 5, fetches it; an empty segment lets it go on to the real ones without an error.
const gapSegment = "gap.mp4"

// videoTimeScale is the clock of H.264 in HLS: 90 kHz, as in MPEG-TS.
const videoTimeScale = 90000
