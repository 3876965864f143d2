package rtsp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/relay"
)

// The feed also publishes each frame's packets as one frame of a derived relay stream
// (relay.CodecRTP), framed as RTSP interleaves them in a TCP connection: '$', the channel,
// the length, the packet. Media i's RTP goes on channel 2i and its RTCP on 2i+1, the
// channels nearly every player asks for, so a TCP viewer writes the frame's bytes as they
// are; one that asked for others, or set up fewer medias, gets new headers in front of the
// same packets (tcpViewer.add).

// interleavedHeader is the size of the framing in front of each packet.
const interleavedHeader = 4

// interleave appends pkts, each in its framing on channel ch, to b.
func interleave(b []byte, ch byte, pkts []*rtp.Packet) ([]byte, error) {
	for _, p := range pkts {
		n := p.MarshalSize()
		start := len(b)
		b = append(b, make([]byte, interleavedHeader+n)...)
		b[start], b[start+1] = '$', ch
		binary.BigEndian.PutUint16(b[start+2:], uint16(n))
		if _, err := p.MarshalTo(b[start+interleavedHeader:]); err != nil {
			return nil, fmt.Errorf("marshal rtp: %w", err)
		}
	}
	return b, nil
}

// interleaveRTCP appends one RTCP packet in its framing on channel ch to b.
func interleaveRTCP(b []byte, ch byte, p rtcp.Packet) ([]byte, error) {
	body, err := p.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal rtcp: %w", err)
	}
	b = append(b, '$', ch, byte(len(body)>>8), byte(len(body)))
	return append(b, body...), nil
}

// senderReport says which wall-clock time the track's RTP time at pts stands for: players
// line audio up with video by it. epoch is the wall-clock time of stream time zero.
func (t *track) senderReport(epoch time.Time, pts time.Duration) *rtcp.SenderReport {
	return &rtcp.SenderReport{SSRC: t.ssrc, NTPTime: ntp.Encode(epoch.Add(pts)), RTPTime: t.timestamp(pts)}
}

// goodbye is an RTCP BYE from ssrc, behind an empty receiver report: RFC 3550 wants RTCP
// in compound packets, and ffmpeg drops any RTCP packet under 12 bytes, as a lone BYE is.
func goodbye(ssrc uint32) rtcp.Packet {
	return compound{&rtcp.ReceiverReport{SSRC: ssrc}, &rtcp.Goodbye{Sources: []uint32{ssrc}}}
}

// compound is RTCP packets sent as one.
type compound []rtcp.Packet

func (c compound) Marshal() ([]byte, error) { return rtcp.Marshal(c) }

func (c compound) Unmarshal([]byte) error { return errors.New("rtcp compound: write only") }

func (c compound) MarshalSize() int {
	n := 0
	for _, p := range c {
		n += p.MarshalSize()
	}
	return n
}

func (c compound) DestinationSSRC() []uint32 {
	var out []uint32
	for _, p := range c {
		out = append(out, p.DestinationSSRC()...)
	}
	return out
}

// nextPacket splits the first framed packet off b: its channel, the packet and the rest.
// ok is false at the end of b or on framing that does not add up.
func nextPacket(b []byte) (ch byte, pkt, rest []byte, ok bool) {
	if len(b) < interleavedHeader || b[0] != '$' {
		return 0, nil, nil, false
	}
	end := interleavedHeader + int(binary.BigEndian.Uint16(b[2:]))
	if end > len(b) {
		return 0, nil, nil, false
	}
	return b[1], b[interleavedHeader:end], b[end:], true
}

// publishInterleaved publishes one frame's packets (of track t) to the derived stream. Audio
// rides with the next video frame (at most maxAudioHold later), as over RTMP: a viewer then
// wakes and writes about 30 times a second instead of 77.
func (f *feed) publishInterleaved(t *track, fr *relay.Frame, pkts []*rtp.Packet) error {
	size := 0
	for _, p := range pkts {
		size += interleavedHeader + p.MarshalSize()
	}
	var err error
	if t != f.video && f.video != nil {
		if len(f.held) == 0 {
			f.heldSince = fr.PTS
		}
		if f.held, err = interleave(f.held, byte(2*t.index), pkts); err != nil || fr.PTS-f.heldSince < maxAudioHold {
			return err
		}
		b := f.held
		f.held = nil
		return f.emit(&relay.Frame{Track: f.rtp, DTS: fr.DTS, PTS: fr.PTS, Payload: b})
	}
	keyframe := fr.Key && t == f.video
	if keyframe && len(f.held) > 0 {
		// A viewer starts at a keyframe: with its picture first, as a stream begins.
		held := f.held
		f.held = nil
		if err := f.emit(&relay.Frame{Track: f.rtp, DTS: fr.DTS, PTS: fr.DTS, Payload: held}); err != nil {
			return err
		}
	}
	b := make([]byte, 0, len(f.held)+size)
	b = append(b, f.held...)
	f.held = f.held[:0]
	if b, err = interleave(b, byte(2*t.index), pkts); err != nil {
		return err
	}
	return f.emit(&relay.Frame{
		Track: f.rtp, DTS: fr.DTS, PTS: fr.PTS,
		Key:     keyframe || f.video == nil,
		Payload: b,
	})
}

// maxAudioHold bounds how long audio waits for a video frame to ride with.
const maxAudioHold = 50 * time.Millisecond

// emit publishes one frame of interleaved packets. The first one's time is where out's time
// zero is on the source stream (its publisher rebases), which viewers need for RTP-Info.
func (f *feed) emit(fr *relay.Frame) error {
	if !f.outStarted {
		f.outStarted = true
		f.outShift.Store(int64(fr.DTS))
	}
	return f.out.WriteFrame(fr)
}
