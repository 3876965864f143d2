package format

import (
	"bytes"

	"github.com/relaycast/relaycast/relay"
)

// TSCarries says whether MPEG-TS (as TSWriter writes it) carries a codec: H.264, H.265,
// AAC and Opus, not AV1 or VP9.
func TSCarries(c relay.Codec) bool {
	switch c {
	case relay.CodecH264, relay.CodecH265, relay.CodecAAC, relay.CodecOpus:
		return true
	}
	return false
}

// TSFramer turns a stream's frames into MPEG-TS one frame at a time, for a reader that
// sends a stream as TS (SRT readers, SRT push). It takes the first video and audio track TS
// carries and starts a new program when a frame comes on another track (a publisher's
// hand-over with new tracks).
type TSFramer struct {
	video, audio *relay.Track
	buf          bytes.Buffer
	w            *TSWriter
}

// NewTSFramer returns a framer for the first video and audio tracks of tracks that TS
// carries.
func NewTSFramer(tracks []*relay.Track) (*TSFramer, error) {
	video, audio := relay.FirstTracks(tracks, TSCarries)
	m := &TSFramer{}
	return m, m.retrack(video, audio)
}

// Tracks are the tracks of the current program.
func (m *TSFramer) Tracks() (video, audio *relay.Track) { return m.video, m.audio }

func (m *TSFramer) retrack(video, audio *relay.Track) error {
	m.buf.Reset()
	w, err := NewTSWriter(&m.buf, video, audio, TSOffset)
	if err != nil {
		return err
	}
	m.w, m.video, m.audio = w, video, audio
	return nil
}

// Frame muxes f and returns its TS packets, valid until the next call; none for a frame of a
// codec TS does not carry.
func (m *TSFramer) Frame(f *relay.Frame) ([]byte, error) {
	switch {
	case !TSCarries(f.Track.Codec):
		return nil, nil
	case f.Track.Codec.IsVideo() && f.Track != m.video:
		if err := m.retrack(f.Track, m.audio); err != nil {
			return nil, err
		}
	case !f.Track.Codec.IsVideo() && f.Track != m.audio:
		if err := m.retrack(m.video, f.Track); err != nil {
			return nil, err
		}
	}
	m.buf.Reset()
	if err := m.w.Write(f.Track.Codec, f.DTS, f.PTS, f.Payload); err != nil {
		return nil, err
	}
	return m.buf.Bytes(), nil
}
