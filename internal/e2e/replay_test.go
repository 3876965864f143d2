package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	rtspformat "github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// replayFrom plays an RTSP URL as an ONVIF Profile G client replays a recording: every
// request says Require: onvif-replay, and PLAY asks for Range: clock=at. It saves the first
// two seconds of H.264 it gets as Annex B and returns the file and the PLAY's answer.
func replayFrom(t *testing.T, raw string, at time.Time) (string, *base.Response) {
	t.Helper()
	u, err := base.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: ptr(gortsplib.ProtocolTCP), ReadTimeout: 10 * time.Second,
		OnRequest: func(req *base.Request) { req.Header["Require"] = base.HeaderValue{"onvif-replay"} }}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var forma *rtspformat.H264
	media := desc.FindFormat(&forma)
	if media == nil {
		t.Fatalf("no H.264 in %+v", desc)
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Setup(desc.BaseURL, media, 0, 0); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	stream := h264.AnnexB{forma.SPS, forma.PPS}
	var first time.Time
	done := make(chan struct{})
	c.OnPacketRTP(media, forma, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			first = time.Now()
		}
		if time.Since(first) > 2*time.Second {
			select {
			case <-done:
			default:
				close(done)
			}
			return
		}
		stream = append(stream, au...)
	})
	res, err := c.Play(&headers.Range{Value: &headers.RangeUTC{Start: at}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("no 2 s of video in 15 s")
	}
	mu.Lock()
	defer mu.Unlock()
	b, err := stream.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "replay.h264")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file, res
}

// An ONVIF replay client (Require: onvif-replay) on a live path's own URL plays its DVR
// window from a wall-clock time (PLAY Range: clock=), and is told the clock time of the
// keyframe it starts from; the picture shows that second.
func TestRTSPReplaysALivePathByWallClock(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clip := testenv.SecondsClip(t, t.TempDir(), 30)
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.DVR = time.Minute }})
	const path = "live/replay"
	published := time.Now()
	testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "flv", srv.URL(path))
	testenv.WaitLive(t, srv, path, 10*time.Second)
	time.Sleep(time.Until(published.Add(15 * time.Second)))

	at := published.Add(8500 * time.Millisecond)
	file, res := replayFrom(t, srv.RTSPURL(path), at.UTC())
	var rng headers.Range
	if err := rng.Unmarshal(res.Header["Range"]); err != nil {
		t.Fatalf("PLAY's Range %q: %v", res.Header["Range"], err)
	}
	clock, ok := rng.Value.(*headers.RangeUTC)
	if !ok || clock.Start.After(at) || at.Sub(clock.Start) > 1500*time.Millisecond {
		t.Errorf("PLAY's Range %q for clock=%s, want the keyframe at or before it", res.Header["Range"], at.UTC().Format("150405.000"))
	}
	if got := firstSecond(ctx, t, file, "-f", "h264"); got < 7 || got > 8 {
		t.Errorf("clock=%s (second 8.5 of the publish): the first picture shows second %d", at.Format(time.TimeOnly), got)
	}
	d := testenv.FFmpegDecode(ctx, t, file, 10*time.Second, "-loglevel", "warning", "-f", "h264")
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(2*time.Second)-5 {
		t.Errorf("the replay's first 2 s: %d pictures, exit %v, warnings:\n%s", d.Frames, d.Err, strings.Join(w, "\n"))
	}
	if !strings.HasPrefix(res.Header["Range"][0], "clock=") {
		t.Errorf("PLAY's Range is %q, want a clock range", res.Header["Range"])
	}
}
