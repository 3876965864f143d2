package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// MaxMPEGTSProbe bounds how much of an MPEG-TS input is read to find its program table and
// each track's configuration, which is held in memory until then.
const MaxMPEGTSProbe = 8 << 20

// maxReorder is the largest PTS-DTS (90 kHz) believed; more is a broken header.
const maxReorder = 10 * 90000

// ErrNoTracks is returned for an MPEG-TS input without a track the relay carries.
var ErrNoTracks = errors.New("no track the server carries (H.264, H.265, AAC, Opus)")

// MPEGTS demuxes one MPEG-TS input (an SRT publisher) into frames, with mediacommon's
// reader. Not safe for concurrent use.
type MPEGTS struct {
	r       *mpegts.Reader
	il      *interleaver
	clock   codec.Timeline // one for all tracks: they share the program clock
	skipped []string       // tracks not carried, as "pid 257: mpeg1 audio"
	src     *probeLimit
	// OnDecodeError hears of input the reader skipped (a broken PES, a missing PTS).
	OnDecodeError func(error)
	// OnClockJump, when set, hears of each discontinuity of the program clock, which the
	// frames' timestamps run on through.
	OnClockJump func(step time.Duration)
	// Live marks an input that can end in the middle of a frame (a connection): frames
	// the reader gives out only because the input ended are dropped. A video PES has no
	// length, so the last one, which the end completes, may be cut short.
	Live bool
}

// NewMPEGTS reads r until it knows the program's tracks (at most MaxMPEGTSProbe bytes).
func NewMPEGTS(r io.Reader, out FrameWriter) (*MPEGTS, error) {
	probe := &probeLimit{r: r, left: MaxMPEGTSProbe}
	x := &MPEGTS{r: &mpegts.Reader{R: probe}, src: probe}
	x.clock = codec.Timeline{Rate: 90000, Wrap: 1 << 33, OnJump: func(step time.Duration) {
		if x.OnClockJump != nil {
			x.OnClockJump(step)
		}
	}}
	if err := x.r.Initialize(); err != nil {
		if probe.left <= 0 {
			return nil, fmt.Errorf("mpegts: no program table or track configuration in the first %d bytes", MaxMPEGTSProbe)
		}
		return nil, fmt.Errorf("mpegts: %w", err)
	}
	probe.left = -1
	x.il = &interleaver{out: out}
	for _, t := range x.r.Tracks() {
		if !x.track(t) {
			x.skipped = append(x.skipped, fmt.Sprintf("pid %d: %T", t.PID, t.Codec))
		}
	}
	if len(x.il.queues) == 0 {
		return nil, fmt.Errorf("mpegts: %w", ErrNoTracks)
	}
	x.r.OnDecodeError(func(err error) {
		if x.OnDecodeError != nil {
			x.OnDecodeError(err)
		}
	})
	return x, nil
}

// Skipped names the tracks of the input the relay does not carry.
func (x *MPEGTS) Skipped() []string { return x.skipped }

// track registers the callback that turns t's data into frames; false: not carried.
func (x *MPEGTS) track(t *mpegts.Track) bool {
	switch c := t.Codec.(type) {
	case *codecs.H264:
		x.r.OnDataH264(t, x.video(len(x.il.queues), newNALUnits(h264NAL, x.il.add(), "mpegts h264")))
	case *codecs.H265:
		x.r.OnDataH265(t, x.video(len(x.il.queues), newNALUnits(h265NAL, x.il.add(), "mpegts h265")))
	case *codecs.MPEG4Audio:
		asc, err := c.Config.Marshal()
		if err != nil {
			return false
		}
		track, err := codec.AACTrack(asc)
		if err != nil {
			return false
		}
		i, out := len(x.il.queues), x.il.add()
		x.r.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error {
			return x.aac(out, track, x.clock.Ticks(i, pts), aus)
		})
	case *codecs.Opus:
		if c.Desc == nil {
			return false
		}
		track, err := codec.OpusParams(c.Desc.ChannelCount())
		if err != nil {
			return false
		}
		i, out := len(x.il.queues), x.il.add()
		x.r.OnDataOpus(t, func(pts int64, packets [][]byte) error {
			return x.opus(out, track, x.clock.Ticks(i, pts), packets)
		})
	default:
		return false
	}
	return true
}

// opus writes the packets of one PES, each as long as its own TOC says.
func (x *MPEGTS) opus(out FrameWriter, t *relay.Track, pts int64, packets [][]byte) error {
	at := codec.Duration(pts, 90000)
	for _, p := range packets {
		if len(p) == 0 {
			continue
		}
		if err := out.WriteFrame(&relay.Frame{Track: t, DTS: at, PTS: at, Key: true, Payload: bytes.Clone(p)}); err != nil {
			return fmt.Errorf("mpegts opus: %w", err)
		}
		at += codec.Duration(opus.PacketDuration2(p), 48000)
	}
	return nil
}

// video returns the reader's callback for video track i.
func (x *MPEGTS) video(i int, u *nalUnits) func(pts, dts int64, au [][]byte) error {
	return func(pts, dts int64, au [][]byte) error {
		if x.Live && x.src.ended {
			return nil
		}
		payload, key, _, err := u.prepare(au)
		if err != nil || payload == nil {
			return err
		}
		off := (pts - dts) & 0x1ffffffff // the reordering delay, across a wrap of the 33-bit clock
		if off > maxReorder {
			off = 0
		}
		dts = x.clock.Ticks(i, dts)
		return u.write(payload, key, dts, dts+off)
	}
}

// aac writes the access units of one PES (often several ADTS frames), 1024 samples apart.
func (x *MPEGTS) aac(out FrameWriter, t *relay.Track, pts int64, aus [][]byte) error {
	for i, au := range aus {
		if len(au) == 0 {
			continue
		}
		at := codec.Duration(pts, 90000) + codec.Duration(int64(i)*1024, int64(t.ClockRate))
		if err := out.WriteFrame(&relay.Frame{Track: t, DTS: at, PTS: at, Key: true, Payload: bytes.Clone(au)}); err != nil {
			return fmt.Errorf("mpegts aac: %w", err)
		}
	}
	return nil
}

// Read demuxes the next packets; it returns the reader's error (io.EOF at the end) or the
// frame writer's. At the end, the frames still waiting for the other track go out.
func (x *MPEGTS) Read() error {
	err := x.r.Read()
	if err != nil && errors.Is(err, io.EOF) {
		if ferr := x.il.flush(); ferr != nil {
			return ferr
		}
	}
	return err
}

// probeLimit fails a read once left bytes have gone by (left < 0: no limit), and notes the
// end of the input.
type probeLimit struct {
	r     io.Reader
	left  int
	ended bool
}

func (p *probeLimit) Read(b []byte) (int, error) {
	if p.left < 0 {
		n, err := p.r.Read(b)
		p.ended = p.ended || err != nil
		return n, err
	}
	if p.left == 0 {
		return 0, errors.New("probe limit")
	}
	n, err := p.r.Read(b[:min(len(b), p.left)])
	p.left -= n
	return n, err
}
