package ingest

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// HLS turns what gohlslib's client reads of an HLS stream (MPEG-TS or fMP4 segments) into
// frames. The client calls each track's callback from a goroutine of its own, pacing it in
// real time; HLS puts them in one order.
type HLS struct {
	mu      sync.Mutex
	il      *interleaver
	skipped []string
	fail    func(error)
	failed  bool
}

// NewHLS registers the data callbacks of the client's tracks (call it from OnTracks).
// fail hears of the first frame that could not be written, after which nothing more is.
func NewHLS(c *gohlslib.Client, tracks []*gohlslib.Track, out FrameWriter, fail func(error)) (*HLS, error) {
	x := &HLS{il: newJoiningInterleaver(out, nil), fail: fail}
	for _, t := range tracks {
		if err := x.track(c, t); err != nil {
			x.skipped = append(x.skipped, fmt.Sprintf("%T: %v", t.Codec, err))
		}
	}
	if len(x.il.queues) == 0 {
		return nil, fmt.Errorf("hls: %w", ErrNoTracks)
	}
	return x, nil
}

// Skipped names the tracks of the stream the relay does not carry.
func (x *HLS) Skipped() []string { return x.skipped }

// do runs one callback's work alone, and stops at the first error.
func (x *HLS) do(what string, write func() error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.failed {
		return
	}
	if err := write(); err != nil {
		x.failed = true
		x.fail(fmt.Errorf("hls %s: %w", what, err))
	}
}

func (x *HLS) track(c *gohlslib.Client, t *gohlslib.Track) error {
	switch tc := t.Codec.(type) {
	case *codecs.H264:
		u := newNALUnits(h264NAL, x.il.add(), "hls h264")
		if tc.SPS != nil && tc.PPS != nil {
			_, _ = u.setParams([][]byte{tc.SPS, tc.PPS}) // an error waits for in-band ones
		}
		c.OnDataH26x(t, x.video(u, "h264"))
	case *codecs.H265:
		u := newNALUnits(h265NAL, x.il.add(), "hls h265")
		if tc.VPS != nil && tc.SPS != nil && tc.PPS != nil {
			_, _ = u.setParams([][]byte{tc.VPS, tc.SPS, tc.PPS})
		}
		c.OnDataH26x(t, x.video(u, "h265"))
	case *codecs.MPEG4Audio:
		asc, err := tc.Config.Marshal()
		if err != nil {
			return err
		}
		track, err := codec.AACTrack(asc)
		if err != nil {
			return err
		}
		out, rate := x.il.add(), int64(t.ClockRate)
		c.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) {
			x.do("aac", func() error {
				for i, au := range aus {
					at := codec.Duration(pts+int64(i)*1024, rate)
					if err := out.WriteFrame(&relay.Frame{Track: track, DTS: at, PTS: at, Key: true, Payload: bytes.Clone(au)}); err != nil {
						return err
					}
				}
				return nil
			})
		})
	case *codecs.Opus:
		track, err := codec.OpusParams(tc.ChannelCount)
		if err != nil {
			return err
		}
		out := x.il.add()
		c.OnDataOpus(t, func(pts int64, packets [][]byte) {
			x.do("opus", func() error {
				for _, p := range packets {
					at := codec.Duration(pts, 48000)
					if err := out.WriteFrame(&relay.Frame{Track: track, DTS: at, PTS: at, Key: true, Payload: bytes.Clone(p)}); err != nil {
						return err
					}
					pts += opus.PacketDuration2(p)
				}
				return nil
			})
		})
	case *codecs.AV1:
		// The sequence header must come in the keyframes (as AV1 in MP4 and TS has it).
		u := &av1Units{out: x.il.add(), what: "hls av1"}
		c.OnDataAV1(t, func(pts int64, tu [][]byte) { x.do("av1", func() error { return u.write(tu, pts) }) })
	default:
		return ErrUnsupported
	}
	return nil
}

// video returns the client's callback for an H.264 or H.265 track (90 kHz clock).
func (x *HLS) video(u *nalUnits, what string) func(pts, dts int64, au [][]byte) {
	return func(pts, dts int64, au [][]byte) {
		x.do(what, func() error {
			payload, key, _, err := u.prepare(au)
			if err != nil || payload == nil {
				return err
			}
			return u.write(payload, key, dts, pts)
		})
	}
}
