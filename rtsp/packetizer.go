package rtsp

import (
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/relay"
)

// Packetizer is the server's RTP packetizing of a stream, for a client that records the
// stream to another server (a push relay over RTSP): the same SDP medias, the same packets
// the server's own viewers get.
type Packetizer struct{ f *feed }

// NewPacketizer packetizes the first video and the first audio track of tracks that RTSP
// carries, and describes them.
func NewPacketizer(tracks []*relay.Track) (*Packetizer, *description.Session, error) {
	f := &feed{}
	medias, err := f.newTracks(tracks)
	if err != nil {
		return nil, nil, err
	}
	return &Packetizer{f}, &description.Session{Medias: medias}, nil
}

// Packetize returns the RTP packets of a frame and the media they belong to; none for a
// frame of a track the description does not have.
func (p *Packetizer) Packetize(fr *relay.Frame) (*description.Media, []*rtp.Packet, error) {
	t, pkts, err := p.f.packetize(fr)
	if t == nil || err != nil {
		return nil, nil, err
	}
	return t.media, pkts, nil
}
