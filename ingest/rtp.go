package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
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
		x := &rtpH264{dec: dec, dts: h264.NewDTSExtractor(), h264Units: h264Units{out: out, what: "rtp h264"}}
		if sps, pps := f.SafeParams(); sps != nil && pps != nil {
			x.setParams(sps, pps) // an error waits for in-band ones
		}
		return x, nil
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

// rtpH264 reassembles access units (RFC 6184) and finds their DTS from the picture order
// (B-frames); h264Units makes the frames.
type rtpH264 struct {
	dec *rtph264.Decoder
	dts *h264.DTSExtractor
	h264Units
}

func (x *rtpH264) setParams(sps, pps []byte) error {
	changed, err := x.h264Units.setParams(sps, pps)
	if changed {
		x.dts = h264.NewDTSExtractor() // a new SPS may change the picture order
	}
	return err
}

func (x *rtpH264) Packet(pkt *rtp.Packet, pts int64) error {
	au, err := x.dec.Decode(pkt)
	switch {
	case errors.Is(err, rtph264.ErrMorePacketsNeeded), errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
		return nil
	case err != nil: // a lost fragment, most likely: the picture is broken
		x.needKey = true
		x.Lost++
		return nil
	}
	payload, key, newParams, err := x.prepare(au)
	if newParams {
		x.dts = h264.NewDTSExtractor()
	}
	if err != nil || payload == nil {
		return err
	}
	if key && !newParams { // the extractor reads the picture order with the SPS it is given
		au = append([][]byte{x.sps, x.pps}, au...)
	}
	dts, err := x.dts.Extract(au, pts)
	if err != nil { // a picture order the extractor cannot follow: wait for the next IDR
		x.needKey, x.dts = true, h264.NewDTSExtractor()
		x.Lost++
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
		t := clockTime(pts+int64(i)*1024, rate)
		f := &relay.Frame{Track: x.track, DTS: t, PTS: t, Key: true, Payload: bytes.Clone(au)}
		if err := x.out.WriteFrame(f); err != nil {
			return fmt.Errorf("rtp aac: %w", err)
		}
	}
	return nil
}

// clockTime converts a time in units of 1/rate s.
func clockTime(v, rate int64) time.Duration {
	return time.Duration(v/rate)*time.Second + time.Duration(v%rate)*time.Second/time.Duration(rate)
}
