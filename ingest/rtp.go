package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpav1"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpvp9"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// RTPMedia turns the RTP packets of one format of an RTSP publisher into frames. pts is the
// packet's presentation time in the format's clock (gortsplib's PacketPTS). Not safe for
// concurrent use: gortsplib calls each format's callback from one goroutine.
type RTPMedia interface {
	Packet(pkt *rtp.Packet, pts int64) error
}

// NewRTPMedia returns the depacketizer of f, or ErrUnsupported for a format the relay does
// not carry (yet).
func NewRTPMedia(f format.Format, out FrameWriter) (RTPMedia, error) {
	switch f := f.(type) {
	case *format.H264:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("rtp h264: %w", err)
		}
		x := newRTPVideo(newNALUnits(h264NAL, out, "rtp h264"), dec, func() dtsExtractor { return h264.NewDTSExtractor() },
			rtph264.ErrMorePacketsNeeded, rtph264.ErrNonStartingPacketAndNoPrevious)
		if sps, pps := f.SafeParams(); sps != nil && pps != nil {
			x.setParams([][]byte{sps, pps}) // an error waits for in-band ones
		}
		return x, nil
	case *format.H265:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("rtp h265: %w", err)
		}
		x := newRTPVideo(newNALUnits(h265NAL, out, "rtp h265"), dec, func() dtsExtractor { return h265.NewDTSExtractor() },
			rtph265.ErrMorePacketsNeeded, rtph265.ErrNonStartingPacketAndNoPrevious)
		if vps, sps, pps := f.SafeParams(); vps != nil && sps != nil && pps != nil {
			x.setParams([][]byte{vps, sps, pps})
		}
		return x, nil
	case *format.AV1:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("rtp av1: %w", err)
		}
		return &rtpAV1{dec: dec, av1Units: av1Units{out: out, what: "rtp av1"}}, nil
	case *format.VP9:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("rtp vp9: %w", err)
		}
		return &rtpVP9{dec: dec, vp9Units: vp9Units{out: out, what: "rtp vp9"}}, nil
	case *format.Opus:
		t, err := codec.OpusParams(f.ChannelCount)
		if err != nil {
			return nil, fmt.Errorf("rtp opus: %w: %w", ErrUnsupported, err)
		}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("rtp opus: %w", err)
		}
		return &rtpOpus{dec: dec, out: out, track: t}, nil
	case *format.MPEG4Audio:
		if f.Config == nil {
			return nil, fmt.Errorf("rtp aac: %w: no config in the SDP", ErrUnsupported)
		}
		asc, err := f.Config.Marshal()
		if err != nil {
			return nil, fmt.Errorf("rtp aac: %w", err)
		}
		t, err := codec.AACTrack(asc)
		if err != nil {
			return nil, fmt.Errorf("rtp aac: %w", err)
		}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("rtp aac: %w", err)
		}
		return &rtpAAC{dec: dec, out: out, track: t}, nil
	default:
		return nil, fmt.Errorf("rtp %s: %w", f.Codec(), ErrUnsupported)
	}
}

// rtpVideo reassembles access units (RFC 6184, RFC 7798) and finds their DTS from the
// picture order (B-frames); nalUnits makes the frames.
type rtpVideo struct {
	*nalUnits
	dec interface {
		Decode(*rtp.Packet) ([][]byte, error)
	}
	dts    dtsExtractor
	newDTS func() dtsExtractor
	wait   []error // the decoder's "not yet" answers
	loss   lossTracker
}

type dtsExtractor interface {
	Extract(au [][]byte, pts int64) (int64, error)
}

func newRTPVideo(u *nalUnits, dec interface {
	Decode(*rtp.Packet) ([][]byte, error)
}, newDTS func() dtsExtractor,
	wait ...error) *rtpVideo {
	return &rtpVideo{nalUnits: u, dec: dec, dts: newDTS(), newDTS: newDTS, wait: wait}
}

func (x *rtpVideo) setParams(params [][]byte) {
	if changed, _ := x.nalUnits.setParams(params); changed {
		x.dts = x.newDTS() // new parameter sets may change the picture order
	}
}

func (x *rtpVideo) Packet(pkt *rtp.Packet, pts int64) error {
	if x.loss.gap(pkt) {
		x.needKey = true
	}
	if len(pkt.Payload) == 0 {
		return nil // padding alone (a sender probing the bandwidth), counted in the sequence
	}
	au, err := x.dec.Decode(pkt)
	if x.loss.brokenAU(pkt, au != nil) {
		x.needKey = true
		x.Lost++
		return nil
	}
	switch {
	case err != nil && slices.ContainsFunc(x.wait, func(w error) bool { return errors.Is(err, w) }):
		return nil
	case err != nil: // a lost fragment, most likely: the picture is broken
		x.needKey = true
		x.Lost++
		return nil
	}
	payload, key, newParams, err := x.split(au)
	if newParams {
		x.dts = x.newDTS()
	}
	if err != nil || payload == nil {
		return err
	}
	if key && !newParams { // the extractor reads the picture order with the parameter sets it is given
		au = append(slices.Clip(x.params), au...)
	}
	// Every whole picture goes through the extractor, also those skipped after a loss: one
	// started afresh at a keyframe cannot place the B-frames after it (their DTS came out
	// past their PTS).
	dts, err := x.dts.Extract(au, pts)
	if err != nil { // a picture the extractor cannot place (one it needs was lost): wait for the next keyframe
		x.needKey = true
		x.Lost++
		return nil
	}
	if !x.admit(key) {
		return nil
	}
	return x.write(payload, key, dts, pts)
}

// rtpAAC splits RTP packets into AAC access units (RFC 3640), 1024 samples each.
type rtpAAC struct {
	dec   *rtpmpeg4audio.Decoder
	out   FrameWriter
	track *relay.Track
}

func (x *rtpAAC) Packet(pkt *rtp.Packet, pts int64) error {
	aus, err := x.dec.Decode(pkt)
	switch {
	case errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded):
		return nil
	case err != nil:
		return nil // a lost fragment: that audio is gone, the next packet starts clean
	}
	rate := int64(x.track.ClockRate)
	for i, au := range aus {
		if len(au) == 0 {
			continue
		}
		t := codec.Duration(pts+int64(i)*1024, rate)
		f := &relay.Frame{Track: x.track, DTS: t, PTS: t, Key: true, Payload: bytes.Clone(au)}
		if err := x.out.WriteFrame(f); err != nil {
			return fmt.Errorf("rtp aac: %w", err)
		}
	}
	return nil
}

// rtpAV1 reassembles temporal units (the AV1 RTP payload format).
type rtpAV1 struct {
	dec  *rtpav1.Decoder
	loss lossTracker
	av1Units
}

func (x *rtpAV1) Packet(pkt *rtp.Packet, pts int64) error {
	if x.loss.gap(pkt) {
		x.needKey = true
	}
	if len(pkt.Payload) == 0 {
		return nil // padding alone (a sender probing the bandwidth), counted in the sequence
	}
	tu, err := x.dec.Decode(pkt)
	if x.loss.brokenAU(pkt, tu != nil) {
		x.needKey = true
		return nil
	}
	switch {
	case errors.Is(err, rtpav1.ErrMorePacketsNeeded), errors.Is(err, rtpav1.ErrNonStartingPacketAndNoPrevious):
		return nil
	case err != nil: // a lost fragment: wait for the next keyframe
		x.needKey = true
		return nil
	}
	return x.write(tu, pts)
}

// rtpVP9 reassembles VP9 frames (RFC 9628).
type rtpVP9 struct {
	dec  *rtpvp9.Decoder
	loss lossTracker
	vp9Units
}

func (x *rtpVP9) Packet(pkt *rtp.Packet, pts int64) error {
	if x.loss.gap(pkt) {
		x.needKey = true
	}
	if len(pkt.Payload) == 0 {
		return nil // padding alone (a sender probing the bandwidth), counted in the sequence
	}
	frame, err := x.dec.Decode(pkt)
	if x.loss.brokenAU(pkt, frame != nil) {
		x.needKey = true
		return nil
	}
	switch {
	case errors.Is(err, rtpvp9.ErrMorePacketsNeeded), errors.Is(err, rtpvp9.ErrNonStartingPacketAndNoPrevious):
		return nil
	case err != nil:
		x.needKey = true
		return nil
	}
	return x.write(frame, pts)
}

// lossTracker finds the pictures that lost RTP packets, from gaps in the sequence numbers
// (gortsplib has put UDP packets back in order). A depacketizer notices a lost fragment of a
// NAL unit, but not a lost packet that held whole NAL units: the slice of a picture made of
// several, or the picture's last packet, after which it runs into the next. Either way the
// picture is broken, and forwarded it would be concealed by every player until the next
// keyframe; dropped with what follows, players see whole pictures only.
type lossTracker struct {
	started    bool
	next       uint16 // the sequence number expected next
	lastTS     uint32 // of the packet before
	lastMarker bool
	broken     [4]uint32 // timestamps of the pictures that lost packets, latest gaps
	nBroken    int
}

// gap reports whether packets were lost just before pkt, and notes the pictures they
// belonged to: pkt's, and the one before when it had not ended.
func (l *lossTracker) gap(pkt *rtp.Packet) bool {
	if !l.started {
		l.started, l.next = true, pkt.SequenceNumber+1
		l.lastTS, l.lastMarker = pkt.Timestamp, true
		return false
	}
	d := int16(pkt.SequenceNumber - l.next)
	if d < 0 { // a late duplicate
		return false
	}
	l.next = pkt.SequenceNumber + 1
	if d == 0 {
		return false
	}
	l.mark(pkt.Timestamp)
	if !l.lastMarker && l.lastTS != pkt.Timestamp {
		l.mark(l.lastTS)
	}
	return true
}

func (l *lossTracker) mark(ts uint32) {
	l.broken[l.nBroken%len(l.broken)] = ts
	l.nBroken++
}

// brokenAU reports whether the picture the depacketizer gave for pkt (done) lost packets.
// It is pkt's own unless pkt began a new timestamp after a picture with no marker: then the
// depacketizer has just ended the one before. It notes pkt for the next call.
func (l *lossTracker) brokenAU(pkt *rtp.Packet, done bool) bool {
	ts := pkt.Timestamp
	if !l.lastMarker && pkt.Timestamp != l.lastTS {
		ts = l.lastTS
	}
	l.lastTS, l.lastMarker = pkt.Timestamp, pkt.Marker
	return done && slices.Contains(l.broken[:min(l.nBroken, len(l.broken))], ts)
}

// rtpOpus takes one Opus packet per RTP packet (RFC 7587).
type rtpOpus struct {
	dec   *rtpsimpleaudio.Decoder
	out   FrameWriter
	track *relay.Track
}

func (x *rtpOpus) Packet(pkt *rtp.Packet, pts int64) error {
	p, err := x.dec.Decode(pkt)
	if err != nil || len(p) == 0 {
		return nil
	}
	t := codec.Duration(pts, 48000)
	if err := x.out.WriteFrame(&relay.Frame{Track: x.track, DTS: t, PTS: t, Key: true, Payload: bytes.Clone(p)}); err != nil {
		return fmt.Errorf("rtp opus: %w", err)
	}
	return nil
}

// clockTime converts a time in units of 1/rate s.
