package rtmp_test

import (
	"bytes"
	"context"
	"net/url"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/testenv"
	"github.com/relaycast/relaycast/relay"
)

type frameList struct{ frames []*relay.Frame }

func (l *frameList) WriteFrame(f *relay.Frame) error { l.frames = append(l.frames, f); return nil }
func (l *frameList) SetMetadata([]byte)              {}

// hevcFrames is the H.265 test clip as relay frames (ffmpeg remuxes it to MPEG-TS, which
// relaycast's own demuxer reads).
func hevcFrames(t *testing.T) []*relay.Frame {
	t.Helper()
	ts, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", testenv.SampleHEVC(), "-c", "copy", "-f", "mpegts", "-").Output()
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

// publishEnhanced publishes frames over enhanced RTMP with gortmplib (as OBS 30 does H.265),
// looped in real time until ctx ends.
func publishEnhanced(ctx context.Context, t *testing.T, rawURL string, frames []*relay.Frame) {
	u, _ := url.Parse(rawURL)
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		t.Errorf("enhanced publish: %v", err)
		return
	}
	defer c.Close()
	var vt, at *gortmplib.Track
	var video codec.NALConfig
	for _, f := range frames {
		switch {
		case f.Track.Codec == relay.CodecH265 && vt == nil:
			video, _ = codec.ParseNALConfig(f.Track)
			ps := video.Params()
			vt = &gortmplib.Track{Codec: &rtmpcodecs.H265{VPS: ps[0], SPS: ps[1], PPS: ps[2]}}
		case f.Track.Codec == relay.CodecAAC && at == nil:
			var asc mpeg4audio.AudioSpecificConfig
			_ = asc.Unmarshal(f.Track.Config)
			at = &gortmplib.Track{Codec: &rtmpcodecs.MPEG4Audio{Config: &asc}}
		}
	}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{vt, at}}
	if err := w.Initialize(); err != nil {
		t.Errorf("enhanced publish: %v", err)
		return
	}
	span := frames[len(frames)-1].DTS - frames[0].DTS + 33*time.Millisecond
	start := time.Now()
	for loop := time.Duration(0); ; loop++ {
		for _, f := range frames {
			at0 := start.Add(f.DTS + loop*span)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(at0)):
			}
			var err error
			if f.Track.Codec == relay.CodecH265 {
				au, _ := video.AccessUnit(nil, f.Payload)
				err = w.WriteH265(vt, f.PTS+loop*span, f.DTS+loop*span, au)
			} else {
				err = w.WriteMPEG4Audio(at, f.PTS+loop*span, f.Payload)
			}
			if err != nil {
				return // the server hung up
			}
		}
	}
}

// H.265 and AAC published over enhanced RTMP (gortmplib, as OBS sends them) are read back as
// hevc over RTSP and LL-HLS, and over enhanced RTMP by a player that announces hvc1; each
// decodes without a warning. A legacy RTMP player gets the audio.
func TestEnhancedRTMPCarriesH265(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	srv := testenv.Start(t, testenv.Options{})
	frames := hevcFrames(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); publishEnhanced(ctx, t, srv.URL("live#ehevc"), frames) }()
	defer func() { cancel(); <-done }()
	testenv.WaitLive(t, srv, "live/ehevc", 10*time.Second)

	want := []string{"aac", "hevc 1280x720"}
	for _, url := range []string{srv.RTSPURL("live/ehevc"), srv.HTTPURL("/live/ehevc/index.m3u8")} {
		got := testenv.FFprobeStreams(ctx, t, url)
		sort.Strings(got)
		if got = slices.Compact(got); !slices.Equal(got, want) {
			t.Errorf("%s: streams %v, want %v", url, got, want)
		}
	}
	const window = 6 * time.Second
	d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/ehevc"), window, "-loglevel", "warning", "-rtsp_transport", "tcp")
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(window) {
		t.Errorf("rtsp: exit %v, %d pictures, warnings:\n%s", d.Err, d.Frames, strings.Join(w, "\n"))
	}
	if got := testenv.FFprobeStreams(ctx, t, srv.URL("live/ehevc")); !slices.Equal(got, []string{"aac"}) {
		t.Errorf("legacy rtmp: streams %v, want the audio alone", got)
	}

	// An enhanced RTMP player: its H.265, as Annex B, decodes in ffmpeg without a warning.
	annexB, audio := playEnhanced(ctx, t, srv.URL("live#ehevc"), window)
	dec := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "warning", "-f", "hevc", "-i", "-", "-f", "null", "-")
	dec.Stdin = bytes.NewReader(annexB)
	out, err := dec.CombinedOutput()
	if w := testenv.DecoderWarnings(strings.TrimSpace(string(out))); err != nil || len(w) > 0 {
		t.Errorf("enhanced rtmp player's H.265: exit %v, warnings:\n%s", err, strings.Join(w, "\n"))
	}
	if audio < int(window.Seconds()*43*0.9) {
		t.Errorf("enhanced rtmp player: %d AAC frames in %v", audio, window)
	}
}

// playEnhanced plays url with gortmplib for d of media and returns the H.265 it got, as
// Annex B, and how many AAC frames.
func playEnhanced(ctx context.Context, t *testing.T, rawURL string, d time.Duration) ([]byte, int) {
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
		annexB      []byte
		audio       int
		first, last time.Duration = -1, 0
		hevc        bool
	)
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *rtmpcodecs.H265:
			hevc = true
			r.OnDataH265(tr, func(pts, dts time.Duration, au [][]byte) {
				if first < 0 {
					first = dts
				}
				last = dts
				b, _ := h264.AnnexB(au).Marshal()
				annexB = append(annexB, b...)
			})
		case *rtmpcodecs.MPEG4Audio:
			r.OnDataMPEG4Audio(tr, func(time.Duration, []byte) { audio++ })
		}
	}
	if !hevc {
		t.Fatalf("enhanced rtmp player: tracks %v, no H.265", r.Tracks())
	}
	for first < 0 || last-first < d {
		_ = c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := r.Read(); err != nil {
			t.Fatalf("enhanced rtmp player: %v", err)
		}
	}
	return annexB, audio
}
