package testenv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpav1"
	"github.com/pion/rtp"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	mopus "github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/testkit/ertmpclient"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/relay"
)

type frameList struct{ frames []*relay.Frame }

func (l *frameList) WriteFrame(f *relay.Frame) error { l.frames = append(l.frames, f); return nil }
func (l *frameList) SetMetadata([]byte)              {}

// HEVCFrames is SampleHEVC as relay frames (ffmpeg remuxes it to MPEG-TS, which relaycast's
// own demuxer reads).
func HEVCFrames(t testing.TB) []*relay.Frame {
	t.Helper()
	ts, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", SampleHEVC(), "-c", "copy", "-f", "mpegts", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	var out frameList
	x, err := ingest.NewMPEGTS(bytes.NewReader(ts), &out)
	if err != nil {
		t.Fatal(err)
	}
	for x.Read() == nil {
	}
	return out.frames
}

// PublishEnhanced publishes frames (H.265, AV1 or VP9, AAC or Opus) over enhanced RTMP with
// gortmplib, as OBS 30 does, looped in real time until ctx ends or the server hangs up.
// rawURL names the stream as gortmplib wants it: rtmp://HOST/APP#NAME.
func PublishEnhanced(ctx context.Context, t testing.TB, rawURL string, frames []*relay.Frame) {
	if err := ertmpclient.Publish(ctx, rawURL, frames, nil, nil); err != nil && ctx.Err() == nil {
		t.Logf("enhanced publish: %v", err)
	}
}

// EnhancedPlay is what an enhanced RTMP player (gortmplib, which announces every codec it
// knows) got: its video as a stream ffmpeg reads (H.265 Annex B, -f hevc; AV1 temporal
// units, -f obu; VP9 in IVF), and how many audio frames.
type EnhancedPlay struct {
	Video       []byte
	VideoFormat string
	VideoCodec  string // the track gortmplib saw: "hevc", "av1"
	Audio       int
	AudioCodec  string // "aac", "opus"
}

// PlayEnhanced plays rawURL (rtmp://HOST/APP#NAME) with gortmplib for d of media.
func PlayEnhanced(ctx context.Context, t testing.TB, rawURL string, d time.Duration) EnhancedPlay {
	t.Helper()
	u, _ := url.Parse(rawURL)
	c := &gortmplib.Client{URL: u}
	if err := c.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	r := &gortmplib.Reader{Conn: c}
	if err := r.Initialize(); err != nil {
		t.Fatal(err)
	}
	var (
		p           EnhancedPlay
		first, last time.Duration = -1, 0
	)
	seen := func(at time.Duration) {
		if first < 0 {
			first = at
		}
		last = at
	}
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *rtmpcodecs.H265:
			p.VideoCodec, p.VideoFormat = "hevc", "hevc"
			params := [][]byte{tr.Codec.(*rtmpcodecs.H265).VPS, tr.Codec.(*rtmpcodecs.H265).SPS, tr.Codec.(*rtmpcodecs.H265).PPS}
			r.OnDataH265(tr, func(pts, dts time.Duration, au [][]byte) {
				seen(dts)
				if h265.IsRandomAccess(au) && h265.NALUType(au[0][0]>>1&0x3f) != h265.NALUType_VPS_NUT {
					// The parameter sets came in the sequence start (hvcC), as a player keeps
					// them; a raw stream needs them in front of its keyframes.
					au = append(slices.Clip(params), au...)
				}
				b, _ := h264.AnnexB(au).Marshal()
				p.Video = append(p.Video, b...)
			})
		case *rtmpcodecs.AV1:
			p.VideoCodec, p.VideoFormat = "av1", "obu"
			r.OnDataAV1(tr, func(pts time.Duration, tu [][]byte) {
				seen(pts)
				if len(tu) == 0 || av1.OBUType(tu[0][0]>>3&0x0f) != av1.OBUTypeTemporalDelimiter {
					tu = append([][]byte{{byte(av1.OBUTypeTemporalDelimiter) << 3}}, tu...)
				}
				b, _ := av1.Bitstream(tu).Marshal()
				p.Video = append(p.Video, b...)
			})
		case *rtmpcodecs.VP9:
			p.VideoCodec, p.VideoFormat = "vp9", "ivf"
			var frames [][]byte
			var pts []time.Duration
			r.OnDataVP9(tr, func(at time.Duration, frame []byte) {
				seen(at)
				frames, pts = append(frames, bytes.Clone(frame)), append(pts, at)
				p.Video = ivf(frames, pts)
			})
		case *rtmpcodecs.MPEG4Audio:
			p.AudioCodec = "aac"
			r.OnDataMPEG4Audio(tr, func(time.Duration, []byte) { p.Audio++ })
		case *rtmpcodecs.Opus:
			p.AudioCodec = "opus"
			r.OnDataOpus(tr, func(_ time.Duration, pkt []byte) { p.Audio += int(mopus.PacketDuration2(pkt) / 960) })
		}
	}
	for first < 0 || last-first < d {
		_ = c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := r.Read(); err != nil {
			t.Fatalf("enhanced rtmp player: %v", err)
		}
	}
	return p
}

// ivf wraps VP9 frames in an IVF file, the container ffmpeg reads raw VP9 from.
func ivf(frames [][]byte, pts []time.Duration) []byte {
	b := []byte("DKIF\x00\x00\x20\x00VP90")
	b = binary.LittleEndian.AppendUint16(b, 1280)
	b = binary.LittleEndian.AppendUint16(b, 720)
	b = binary.LittleEndian.AppendUint32(b, 1000) // time base 1/1000
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(frames)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	for i, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = binary.LittleEndian.AppendUint64(b, uint64((pts[i]-pts[0])/time.Millisecond))
		b = append(b, f...)
	}
	return b
}

// DecodeVideo decodes what an enhanced player got with ffmpeg (DecodeStream).
func (p EnhancedPlay) DecodeVideo(ctx context.Context) ([]string, int, error) {
	return DecodeStream(ctx, p.VideoFormat, p.Video)
}

// RTSPReadAV1 plays the AV1 track of an RTSP url over TCP with gortsplib's client (ffmpeg
// 5.1 and gstreamer 1.22 have no AV1 RTP depacketizer) for d, and returns it as a stream ffmpeg
// reads (-f obu), from the first keyframe, and how many depacketizing errors it saw.
func RTSPReadAV1(ctx context.Context, t testing.TB, rawURL string, d time.Duration) ([]byte, int) {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	proto := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var forma *format.AV1
	media := desc.FindFormat(&forma)
	if media == nil {
		t.Fatalf("%s: no AV1 in the SDP", rawURL)
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Setup(desc.BaseURL, media, 0, 0); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		out     []byte
		errs    int
		started bool
		first   int64 = -1
		done          = make(chan struct{})
	)
	c.OnPacketRTP(media, forma, func(pkt *rtp.Packet) {
		pts, ok := c.PacketPTS(media, pkt)
		if !ok {
			return
		}
		tu, err := dec.Decode(pkt)
		switch {
		case errors.Is(err, rtpav1.ErrMorePacketsNeeded), errors.Is(err, rtpav1.ErrNonStartingPacketAndNoPrevious):
			return
		case err != nil:
			mu.Lock()
			errs++
			mu.Unlock()
			return
		}
		if !started && !av1.IsRandomAccess2(tu) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		started = true
		if first < 0 {
			first = pts
		}
		b, _ := av1.Bitstream(append([][]byte{{byte(av1.OBUTypeTemporalDelimiter) << 3}}, tu...)).Marshal()
		out = append(out, b...)
		if time.Duration(pts-first)*time.Second/90000 >= d {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%s: %v", rawURL, ctx.Err())
	case <-time.After(d + 15*time.Second):
		t.Fatalf("%s: not %v of AV1 in %v", rawURL, d, d+15*time.Second)
	}
	mu.Lock()
	defer mu.Unlock()
	return bytes.Clone(out), errs
}

// DecodeStream decodes a raw stream of format (hevc, obu) with ffmpeg and returns its
// warnings, how many pictures it decoded and its exit.
func DecodeStream(ctx context.Context, format string, stream []byte) ([]string, int, error) {
	dec := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-progress", "pipe:1",
		"-f", format, "-i", "-", "-f", "null", "-")
	dec.Stdin = bytes.NewReader(stream)
	var stderr bytes.Buffer
	dec.Stderr = &stderr
	out, err := dec.Output()
	frames := 0
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "frame="); ok {
			frames, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return DecoderWarnings(strings.TrimSpace(stderr.String())), frames, err
}

// PublishEnhancedClip publishes the frames of a fragmented MP4 clip (mediatest's AV1 and
// VP9 samples) over enhanced RTMP at rawURL, looping, until the test ends.
func PublishEnhancedClip(t testing.TB, rawURL, clip string) {
	t.Helper()
	frames, err := mediatest.FMP4Frames(clip)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); PublishEnhanced(ctx, t, rawURL, frames) }()
	t.Cleanup(func() { cancel(); <-done })
}
