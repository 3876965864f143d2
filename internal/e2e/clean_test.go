package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// view is how long each player watches: three loops of the 20 s clip.
const view = 60 * time.Second

// makeClip encodes 20 s of 720p30 H.264 High at 2.5 Mbit/s with B-frames and a keyframe every
// 2 s, and AAC, as a camera or OBS would send: big frames whose NAL units take every size, so
// a packetizer that mishandles one breaks a picture somewhere in a minute.
func makeClip(t *testing.T) string {
	t.Helper()
	testenv.NeedTools(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "clip-2500k.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=20,noise=alls=12:allf=t",
		"-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000:duration=19.9",
		"-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast", "-bf", "2", "-g", "60",
		"-keyint_min", "60", "-sc_threshold", "0", "-b:v", "2500k", "-maxrate", "2500k",
		"-bufsize", "2500k", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("encode the test clip: %v\n%s", err, b)
	}
	return out
}

// TestOneMinuteOfA2500kBFrameStreamDecodesWithoutAWarningEverywhere plays a minute of a
// 2.5 Mbit/s B-frame stream on every output at once: RTSP over TCP and UDP with ffmpeg and
// gstreamer, RTMP, the browsers' fMP4 and LL-HLS with ffmpeg, all joining in the stream's
// first seconds (LL-HLS then still lists the gap segments of a young playlist). Every player
// must decode pictures for the whole minute and print no warning at all.
func TestOneMinuteOfA2500kBFrameStreamDecodesWithoutAWarningEverywhere(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "gst-launch-1.0")
	clip := makeClip(t)
	on := true
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/rec": {Record: &on}}
	}})
	testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", clip, "-c", "copy", "-f", "flv", srv.URL("live/hd"))
	testenv.WaitLive(t, srv, "live/hd", 15*time.Second)
	// The same stream, a minute of it, recorded.
	recorded := testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", clip, "-t", "60", "-c", "copy", "-f", "flv", srv.URL("live/rec"))

	type player struct {
		args     []string
		maxStall time.Duration
		allowed  []*regexp.Regexp
	}
	ffmpeg := map[string]player{
		"rtsp tcp ffmpeg": {args: []string{srv.RTSPURL("live/hd"), "-rtsp_transport", "tcp"}},
		// With ffmpeg's own receive buffer: a GOP too big for it is not replayed over UDP.
		"rtsp udp ffmpeg": {args: []string{srv.RTSPURL("live/hd"), "-rtsp_transport", "udp"}},
		"rtmp ffmpeg":     {args: []string{srv.URL("live/hd")}},
		"fmp4 ffmpeg":     {args: []string{srv.HTTPURL("/live/hd/stream.mp4")}},
		// ffmpeg 5.1 reads whole 2 s segments (it knows no parts), so pictures come in bursts.
		"ll-hls ffmpeg": {args: []string{srv.HTTPURL("/live/hd/index.m3u8")}, maxStall: 3500 * time.Millisecond,
			allowed: []*regexp.Regexp{testenv.LiveFMP4Reload}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), view+60*time.Second)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		problems []string
	)
	report := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for name, p := range ffmpeg {
		wg.Go(func() {
			d := testenv.FFmpegDecode(ctx, t, p.args[0], view, append([]string{"-loglevel", "warning"}, p.args[1:]...)...)
			if w := testenv.DecoderWarnings(d.Stderr, p.allowed...); d.Err != nil || len(w) > 0 {
				report("%s: exit %v, %d warnings:\n%s", name, d.Err, len(w), strings.Join(w[:min(len(w), 20)], "\n"))
			}
			if want := testenv.MinFrames(view); d.Frames < want {
				report("%s: %d pictures in %v, want ≥ %d", name, d.Frames, view, want)
			}
			if stall := d.LongestStall(view); stall > max(p.maxStall, 2*time.Second) {
				report("%s: no picture for %v", name, stall)
			}
		})
	}
	for _, proto := range []string{"tcp", "udp"} {
		wg.Go(func() {
			name := "rtsp " + proto + " gstreamer"
			// Each branch ends after a minute of its frames (AAC at 48 kHz: 46.875 a second).
			w, err := testenv.GstDecodeRTSP(ctx, t, srv.RTSPURL("live/hd"), proto, int(view.Seconds())*30, int(view.Seconds()*46))
			if err != nil || len(w) > 0 {
				report("%s: %v, %d warnings:\n%s", name, err, len(w), strings.Join(w[:min(len(w), 20)], "\n"))
			}
		})
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	checkRecording(t, srv, recorded)
}

// checkRecording: the minute published to live/rec is one file of 60 s ± 0.5 by ffprobe,
// which ffmpeg decodes whole with no warning.
func checkRecording(t *testing.T, srv *testenv.Server, publisher *testenv.Proc) {
	if err := publisher.Wait(30 * time.Second); err != nil {
		t.Fatalf("the recorded publisher: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(srv.Record.Writing()) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still recording %v after the publisher left", srv.Record.Writing())
		}
	}
	files, _ := filepath.Glob(filepath.Join(srv.Config().MediaDir, "recordings", "live", "rec", "*.mp4"))
	if len(files) != 1 {
		t.Fatalf("recordings of live/rec: %v, want one", files)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", files[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if sec < 59.5 || sec > 60.5 {
		t.Errorf("the recording of a 60 s publish lasts %.2f s by ffprobe", sec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := testenv.FFmpegDecode(ctx, t, files[0], 2*time.Minute, "-loglevel", "warning")
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 {
		t.Errorf("the recording: exit %v, %d warnings:\n%s", d.Err, len(w), strings.Join(w[:min(len(w), 20)], "\n"))
	}
	if d.Frames < 59*30 {
		t.Errorf("the recording decodes to %d pictures, want a minute's", d.Frames)
	}
	t.Logf("recording: %.2f s, %d pictures", sec, d.Frames)
}
