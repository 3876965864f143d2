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

	"github.com/relaycast/relaycast/internal/app"
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// smallClip encodes 10 s of 320x240 30 fps H.264 with B-frames (a keyframe a second) and
// AAC: cheap to decode, so that six players of it share the machine with others.
func smallClip(t *testing.T) string {
	t.Helper()
	testenv.NeedTools(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "clip-240p.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=10",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
		"-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "30", "-keyint_min", "30",
		"-sc_threshold", "0", "-b:v", "300k", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("encode the test clip: %v\n%s", err, b)
	}
	return out
}

// longRunWatch is how much media each player decodes: the boundary comes about 3 s in.
const longRunWatch = 9 * time.Second

// The stream's timeline starts 4 s before each boundary a stream published for days crosses
// (RTP's 32 bits at 90 kHz, MPEG-TS's 33, int64 nanoseconds times 90 000, RTMP's 31 and 32
// bits of milliseconds), and, last, an encoder's own FLV clock wraps 8 s in (ffmpeg writes 31
// bits: after 24.8 days it goes from 2^31-1 ms to 0). Every output is played across it with
// ffmpeg, and the recording is decoded afterwards: every picture, no warning, no timestamp
// step back (ffmpeg's muxer reports one as a warning).
func TestEveryOutputPlaysAcrossTheBoundariesOfDays(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	clip := smallClip(t)
	for _, tc := range []struct {
		name     string
		boundary time.Duration // where the stream's timeline crosses it
		offset   string        // the encoder's own clock: -output_ts_offset in seconds
	}{
		{"13.3 h: RTP's 32 bits at 90 kHz", 47721858844 * time.Microsecond, ""},
		{"26.5 h: MPEG-TS's 33 bits", 95443717689 * time.Microsecond, ""},
		{"28.5 h: int64 ns times 90 kHz", 102481911520 * time.Microsecond, ""},
		{"24.8 d: 2^31 ms", 1 << 31 * time.Millisecond, ""},
		{"49.7 d: 2^32 ms", 1 << 32 * time.Millisecond, ""},
		{"the encoder's FLV clock wraps at 2^31 ms", 0, "2147476"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on := true
			srv := testenv.Start(t, testenv.Options{
				Conf: func(c *conf.Config) { c.Paths = map[string]conf.Path{"live/x": {Record: &on}} },
				Tune: func(tu *app.Tuning) {
					if tc.boundary > 0 {
						tu.Relay.TimelineStart = tc.boundary - 4*time.Second
					}
				},
			})
			args := []string{"-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", clip, "-t", "14", "-c", "copy"}
			if tc.offset != "" {
				args = append(args, "-output_ts_offset", tc.offset)
			}
			pub := testenv.StartProc(t, "ffmpeg", append(args, "-f", "flv", srv.URL("live/x"))...)
			testenv.WaitLive(t, srv, "live/x", 15*time.Second)
			players := map[string][]string{
				"rtmp":     {srv.URL("live/x")},
				"rtsp tcp": {srv.RTSPURL("live/x"), "-rtsp_transport", "tcp"},
				"rtsp udp": {srv.RTSPURL("live/x"), "-rtsp_transport", "udp"},
				"fmp4":     {srv.HTTPURL("/live/x/stream.mp4")},
				"ll-hls":   {srv.HTTPURL("/live/x/index.m3u8")},
				"srt":      {srv.SRTURL("read:live/x")},
			}
			problems := playAll(t, players, longRunWatch)
			for _, p := range problems {
				t.Error(p)
			}
			if err := pub.Wait(30 * time.Second); err != nil {
				t.Fatalf("the publisher: %v", err)
			}
			checkLongRunRecording(t, srv)
		})
	}
}

// playAll decodes `watch` of media of each player at once and returns what went wrong.
func playAll(t *testing.T, players map[string][]string, watch time.Duration) []string {
	ctx, cancel := context.WithTimeout(context.Background(), watch+40*time.Second)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		problems []string
	)
	for name, p := range players {
		wg.Go(func() {
			d := testenv.FFmpegDecode(ctx, t, p[0], watch, append([]string{"-loglevel", "warning"}, p[1:]...)...)
			mu.Lock()
			defer mu.Unlock()
			if w := testenv.DecoderWarnings(d.Stderr, testenv.LiveFMP4Reload); d.Err != nil || len(w) > 0 {
				problems = append(problems, fmt.Sprintf("%s: exit %v, %d warnings:\n%s", name, d.Err, len(w), strings.Join(w[:min(len(w), 10)], "\n")))
			}
			if want := testenv.MinFrames(watch); d.Frames < want {
				problems = append(problems, fmt.Sprintf("%s: %d pictures in %v, want ≥ %d", name, d.Frames, watch, want))
			}
			t.Logf("%s: %d pictures", name, d.Frames)
		})
	}
	wg.Wait()
	return problems
}

var ffprobeDuration = regexp.MustCompile(`^[0-9.]+$`)

// checkLongRunRecording: the path's recording decodes whole with no warning and lasts what
// the publisher sent (14 s, less the wait for its first keyframe).
func checkLongRunRecording(t *testing.T, srv *testenv.Server) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(srv.Record.Writing()) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still recording %v after the publisher left", srv.Record.Writing())
		}
	}
	files, _ := filepath.Glob(filepath.Join(srv.Config().MediaDir, "recordings", "live", "x", "*.mp4"))
	if len(files) != 1 {
		t.Fatalf("recordings: %v, want one", files)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", files[0]).Output()
	if s := strings.TrimSpace(string(out)); err != nil || !ffprobeDuration.MatchString(s) {
		t.Fatalf("ffprobe the recording: %v %q", err, s)
	}
	sec, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if sec < 13 || sec > 14.5 {
		t.Errorf("the recording of a 14 s publish lasts %.2f s by ffprobe", sec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := testenv.FFmpegDecode(ctx, t, files[0], time.Minute, "-loglevel", "warning")
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 {
		t.Errorf("the recording: exit %v, %d warnings:\n%s", d.Err, len(w), strings.Join(w[:min(len(w), 10)], "\n"))
	}
	if d.Frames < int(sec*30)-3 {
		t.Errorf("the recording decodes to %d pictures in %.2f s", d.Frames, sec)
	}
}
