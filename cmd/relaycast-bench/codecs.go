package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpav1"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/codec"
	mediaformat "github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/testkit/ertmpclient"
	"github.com/relaycast/relaycast/relay"
)

// With -codec hevc or av1 the tool publishes a clip over enhanced RTMP (gortmplib, as OBS 30
// does) and its RTMP players are enhanced RTMP players: what it measures is fast start for
// that codec, a first picture that a decoder can start from, with its configuration.

// clipFrames reads the clip of codec: H.265 through ffmpeg's MPEG-TS and relaycast's
// demuxer, AV1 from its fragmented MP4.
func clipFrames(codecName, clip string) ([]*relay.Frame, error) {
	switch codecName {
	case "hevc":
		ts, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", clip, "-c", "copy", "-f", "mpegts", "-").Output()
		if err != nil {
			return nil, fmt.Errorf("remux %s: %w", clip, err)
		}
		var out frameList
		x, err := ingest.NewMPEGTS(bytes.NewReader(ts), &out)
		if err != nil {
			return nil, err
		}
		for x.Read() == nil {
		}
		return out.frames, nil
	case "av1":
		return indexedFrames(clip)
	}
	return nil, fmt.Errorf("codec %q: want h264, hevc or av1", codecName)
}

// indexedFrames reads every sample of a stored MP4 through the server's own index.
func indexedFrames(file string) ([]*relay.Frame, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ix, err := mediaformat.ReadIndex(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	frames := make([]*relay.Frame, len(ix.Samples))
	for i := range ix.Samples {
		if frames[i], err = ix.Frame(f, i); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	return frames, nil
}

type frameList struct{ frames []*relay.Frame }

func (l *frameList) WriteFrame(f *relay.Frame) error { l.frames = append(l.frames, f); return nil }
func (l *frameList) SetMetadata([]byte)              {}

// lastUnit is the last NAL unit or OBU of a frame, which names the picture on every protocol.
func lastUnit(f *relay.Frame) []byte {
	if f.Track.Codec == relay.CodecAV1 {
		obus, err := codec.AV1Units(f.Payload)
		if err != nil || len(obus) == 0 {
			return nil
		}
		return obus[len(obus)-1]
	}
	return lastAVCCNALU(f.Payload)
}

// publishEnhanced loops frames in real time over enhanced RTMP, marking each picture.
func publishEnhanced(ctx context.Context, rawURL string, frames []*relay.Frame, clk *clock, published chan<- struct{}) error {
	return ertmpclient.Publish(ctx, rawURL, frames, published, func(f *relay.Frame) {
		clk.mark(pictureKey(lastUnit(f)), time.Now())
	})
}

// startsClean says whether a first picture is one a decoder can start from, with the
// configuration in front (inBand: in the picture, as RTP has it; else the sequence start
// before it, as RTMP has it): an H.265 IRAP, with VPS, SPS and PPS; an AV1 temporal unit
// with a sequence header.
func startsClean(c relay.Codec, units [][]byte, inBand bool) bool {
	if c == relay.CodecAV1 {
		return av1.IsRandomAccess2(units)
	}
	if !inBand {
		return h265.IsRandomAccess(units)
	}
	params := 0
	for _, n := range units {
		if len(n) > 0 {
			if t := h265.NALUType(n[0] >> 1 & 0x3f); t >= h265.NALUType_VPS_NUT && t <= h265.NALUType_PPS_NUT {
				params++
			}
		}
	}
	return params >= 3 && h265.IsRandomAccess(units)
}

// see is what a viewer does with each picture it receives.
func (v *viewer) see(start time.Time, c relay.Codec, units [][]byte, inBand bool, clk *clock, measuring *atomic.Bool) {
	now := time.Now()
	if v.ttff == 0 {
		v.ttff = now.Sub(start)
		v.badStart = v.badStart || !startsClean(c, units, inBand)
	}
	if !measuring.Load() || len(units) == 0 {
		return
	}
	v.frames.Add(1)
	if sent, ok := clk.pictureAt(pictureKey(units[len(units)-1])); ok && len(v.delays) < 4096 {
		v.delays = append(v.delays, now.Sub(sent))
	}
}

// playEnhanced is an enhanced RTMP player (gortmplib announces every codec it knows). It
// reads messages as they come, below gortmplib's Reader, which holds back the first second of
// media to find the tracks: the first picture is timed as it arrives, and must come after its
// sequence start.
func (v *viewer) playEnhanced(ctx context.Context, rawURL string, clk *clock, measuring *atomic.Bool) {
	start := time.Now()
	u, err := ertmpclient.URL(rawURL)
	if err != nil {
		v.err = err
		return
	}
	c := &gortmplib.Client{URL: u}
	if v.err = c.Initialize(ctx); v.err != nil {
		return
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	configured := false
	for {
		msg, err := c.Read()
		if err != nil {
			return
		}
		var fourCC message.FourCC
		var payload []byte
		switch m := msg.(type) {
		case *message.VideoExSequenceStart:
			configured = true
			continue
		case *message.VideoExCodedFrames:
			fourCC, payload = m.FourCC, m.Payload
		case *message.VideoExFramesX:
			fourCC, payload = m.FourCC, m.Payload
		default:
			continue
		}
		var units [][]byte
		c0 := relay.CodecH265
		if fourCC == message.FourCCAV1 {
			c0 = relay.CodecAV1
			var bs av1.Bitstream
			if bs.Unmarshal(payload) != nil {
				v.broken.Add(1)
				continue
			}
			units = bs[1:] // after the temporal delimiter the server puts first
		} else {
			var au h264.AVCC
			if au.Unmarshal(payload) != nil {
				v.broken.Add(1)
				continue
			}
			units = au
		}
		if v.ttff == 0 && !configured {
			v.badStart = true
		}
		v.see(start, c0, units, false, clk, measuring)
	}
}

// playRTSPCodec reads an H.265 or AV1 stream over RTSP/TCP.
func (v *viewer) playRTSPCodec(ctx context.Context, rawURL string, clk *clock, measuring *atomic.Bool) {
	start := time.Now()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		v.err = err
		return
	}
	tcp := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if v.err = c.Start(); v.err != nil {
		return
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		v.err = err
		return
	}
	var hevc *format.H265
	var av1f *format.AV1
	var decode func(*rtp.Packet) ([][]byte, error)
	var c0 relay.Codec
	medi := desc.FindFormat(&hevc)
	if medi != nil {
		d, _ := hevc.CreateDecoder()
		decode, c0 = d.Decode, relay.CodecH265
	} else if medi = desc.FindFormat(&av1f); medi != nil {
		d, _ := av1f.CreateDecoder()
		decode, c0 = d.Decode, relay.CodecAV1
	} else {
		v.err = errors.New("no H.265 or AV1 track in the SDP")
		return
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		v.err = err
		return
	}
	c.OnPacketRTP(medi, medi.Formats[0], func(pkt *rtp.Packet) {
		units, err := decode(pkt)
		if err != nil || len(units) == 0 {
			if err != nil && !errors.Is(err, rtph265.ErrMorePacketsNeeded) && !errors.Is(err, rtpav1.ErrMorePacketsNeeded) &&
				!errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) && !errors.Is(err, rtpav1.ErrNonStartingPacketAndNoPrevious) {
				v.broken.Add(1)
			}
			return
		}
		v.see(start, c0, units, true, clk, measuring)
	})
	if _, err := c.Play(nil); err != nil {
		v.err = fmt.Errorf("play: %w", err)
		return
	}
	<-ctx.Done()
}
