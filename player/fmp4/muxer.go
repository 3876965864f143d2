package fmp4

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	mfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

const (
	videoTrackID   = format.FMP4VideoID
	audioTrackID   = format.FMP4AudioID
	videoTimeScale = format.FMP4VideoScale
)

// muxer is the one reader of a relay stream for browsers: it turns frames into fMP4
// fragments, once, and publishes them as a derived relay stream that every browser reads.
// A fragment holds one video frame and the audio that came with it; a video frame goes out
// when the next one arrives, because a sample's duration is the distance to the next.
type muxer struct {
	out *relay.Publisher

	video, audio *relay.Track           // source tracks the current init segment describes
	init         *relay.Track           // derived track: Config is the init segment
	mime         atomic.Pointer[string] // MIME type with codecs, read by HTTP handlers
	rate         int64                  // of the audio track: samples per second
	pending      *relay.Frame           // video frame waiting for its successor
	audioQ       []*mfmp4.Sample        // audio since the last fragment
	audioBase    int64                  // DTS of audioQ[0], in samples
	audioNext    int64                  // where the next audio sample continues the timeline
	seq          uint32
}

func newMuxer(out *relay.Publisher) *muxer {
	return &muxer{out: out, audioNext: -1}
}

// setTracks builds the init segment for the given source tracks.
func (m *muxer) setTracks(tracks []*relay.Track) error {
	m.video, m.audio = relay.FirstTracks(tracks, format.InFMP4)
	if m.audio != nil {
		m.rate = int64(m.audio.ClockRate)
	}
	initSeg, codecs, err := format.FMP4Init(m.video, m.audio)
	if err != nil {
		return fmt.Errorf("fmp4: %w", err)
	}
	info := relay.Track{Codec: relay.CodecFMP4, Config: initSeg}
	if m.video != nil {
		info.Width, info.Height = m.video.Width, m.video.Height
	}
	if m.audio != nil {
		info.SampleRate, info.Channels = m.audio.SampleRate, m.audio.Channels
	}
	m.init = &info
	mime := `video/mp4; codecs="` + strings.Join(codecs, ",") + `"`
	m.mime.Store(&mime)
	return nil
}

// Frame muxes one source frame (relay.Deriver): a video frame goes out as a fragment when the
// next one gives its duration, with the audio since.
func (m *muxer) Frame(_ context.Context, f *relay.Frame) error {
	switch f.Track.Codec {
	case relay.CodecH264, relay.CodecH265, relay.CodecAV1, relay.CodecVP9:
		if f.Track != m.video {
			if err := m.retrack(f.Track, m.audio); err != nil {
				return err
			}
		}
		if m.pending != nil {
			if err := m.emit(f.DTS - m.pending.DTS); err != nil {
				return err
			}
		}
		m.pending = f
	case relay.CodecAAC, relay.CodecOpus:
		if f.Track != m.audio {
			if err := m.retrack(m.video, f.Track); err != nil {
				return err
			}
		}
		m.queueAudio(f)
		if m.video == nil {
			return m.emit(0)
		}
	}
	return nil
}

// retrack starts a new init segment: what is pending goes out under the old one first.
func (m *muxer) retrack(video, audio *relay.Track) error {
	if m.pending != nil {
		if err := m.emit(time.Second / 30); err != nil {
			return err
		}
	}
	var tracks []*relay.Track
	for _, t := range []*relay.Track{video, audio} {
		if t != nil {
			tracks = append(tracks, t)
		}
	}
	m.audioNext = -1
	return m.setTracks(tracks)
}

// queueAudio adds an audio frame, keeping the audio timeline continuous unless it jumps by
// more than half a frame (RTMP's millisecond timestamps wobble around the true step: 1024
// samples of AAC, an Opus packet's own duration).
func (m *muxer) queueAudio(f *relay.Frame) {
	samples := codec.AudioFrameSamples(f.Track, f.Payload)
	dts := codec.Ticks(f.DTS, m.rate)
	if m.audioNext >= 0 && abs(dts-m.audioNext) < samples/2 {
		dts = m.audioNext
	}
	if len(m.audioQ) == 0 {
		m.audioBase = dts
	} else if dts != m.audioNext {
		// A jump inside a fragment cannot be expressed: start the queue anew at the jump.
		m.audioQ, m.audioBase = m.audioQ[:0], dts
	}
	m.audioQ = append(m.audioQ, &mfmp4.Sample{Duration: uint32(samples), Payload: f.Payload})
	m.audioNext = dts + samples
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// emit writes one fragment: the pending video frame (lasting d) and the queued audio.
func (m *muxer) emit(d time.Duration) error {
	part := mfmp4.Part{SequenceNumber: m.seq}
	m.seq++
	out := &relay.Frame{Track: m.init, Key: m.video == nil} // audio only: any fragment starts
	if v := m.pending; v != nil {
		m.pending = nil
		out.DTS, out.PTS, out.Key = v.DTS, v.PTS, v.Key
		base := codec.Ticks(v.DTS, videoTimeScale)
		part.Tracks = append(part.Tracks, &mfmp4.PartTrack{
			ID:       videoTrackID,
			BaseTime: uint64(max(0, base)),
			Samples: []*mfmp4.Sample{{
				Duration:        uint32(max(1, codec.Ticks(v.DTS+d, videoTimeScale)-base)),
				PTSOffset:       int32(codec.Ticks(v.PTS, videoTimeScale) - base),
				IsNonSyncSample: !v.Key,
				Payload:         v.Payload,
			}},
		})
	}
	if len(m.audioQ) > 0 {
		if m.video == nil {
			out.DTS = codec.Duration(m.audioBase, m.rate)
			out.PTS = out.DTS
		}
		part.Tracks = append(part.Tracks, &mfmp4.PartTrack{
			ID: audioTrackID, BaseTime: uint64(max(0, m.audioBase)), Samples: m.audioQ,
		})
	}
	if len(part.Tracks) == 0 {
		return nil
	}
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		return fmt.Errorf("fmp4: fragment: %w", err)
	}
	m.audioQ = make([]*mfmp4.Sample, 0, 4)
	out.Payload = buf.Bytes()
	return m.out.WriteFrame(out)
}
