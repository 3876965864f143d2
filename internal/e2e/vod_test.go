package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// TestThirtySecondUploadPlaysAndSeeksEverywhere uploads a 30 s MP4 with curl, then plays it
// on every protocol at once: ffprobe reads its duration and codecs over RTMP, RTSP,
// progressive MP4 and HLS VOD; ffmpeg decodes every frame of it on each with zero warnings;
// ffmpeg -ss 20 over RTMP, RTSP and HLS starts within a GOP of 20 s; a Range request gets
// the file's own bytes; a truncated upload is refused and leaves no file.
func TestThirtySecondUploadPlaysAndSeeksEverywhere(t *testing.T) {
	testenv.NeedTools(t, "curl", "ffmpeg", "ffprobe")
	media := t.TempDir()
	clip := testenv.SecondsClip(t, t.TempDir(), 30)
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = media }})

	upload := func(file, name string) (int, string) {
		out, err := exec.Command("curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-T", file,
			srv.HTTPURL("/api/v1/media/"+name)).Output()
		if err != nil {
			t.Fatalf("curl -T %s: %v", name, err)
		}
		body, code, _ := strings.Cut(string(out), "\n")
		n, _ := strconv.Atoi(strings.TrimSpace(code))
		return n, body
	}
	whole, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(t.TempDir(), "half.mp4")
	if err := os.WriteFile(half, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := upload(half, "cut.mp4"); code != 422 {
		t.Errorf("a truncated upload: %d %s, want 422", code, body)
	}
	if code, body := upload(clip, "thirty.mp4"); code != 201 {
		t.Fatalf("upload: %d %s", code, body)
	}
	if entries, _ := os.ReadDir(media); len(entries) != 1 || entries[0].Name() != "thirty.mp4" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("media directory after a refused and a good upload: %q", names)
	}

	out, err := exec.Command("curl", "-sS", "-r", "100000-100999", "-o", "-", "-w", "%{http_code}", srv.HTTPURL("/vod/thirty.mp4")).Output()
	if err != nil || len(out) != 1003 || string(out[1000:]) != "206" || !bytes.Equal(out[:1000], whole[100000:101000]) {
		t.Errorf("range request: %d bytes, %v, status %q", len(out), err, out[max(0, len(out)-3):])
	}

	urls := map[string]string{
		"rtmp": srv.URL("vod/thirty"), "rtsp": srv.RTSPURL("vod/thirty"),
		"mp4": srv.HTTPURL("/vod/thirty.mp4"), "hls": srv.HTTPURL("/vod/thirty/index.m3u8"),
	}
	extra := map[string][]string{"rtsp": {"-rtsp_transport", "tcp"}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for proto, url := range urls {
		wg.Go(func() {
			probe := append(slices.Clone(extra[proto]), "-show_entries", "format=duration", "-of", "csv=p=0", url)
			out, err := exec.CommandContext(ctx, "ffprobe", append([]string{"-v", "error"}, probe...)...).Output()
			if sec, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err != nil || sec < 29.5 || sec > 30.5 {
				t.Errorf("%s: ffprobe duration %q (%v), want 30 s ± 0.5", proto, out, err)
			}
			if got := slices.Compact(testenv.FFprobeStreams(ctx, t, url, extra[proto]...)); !slices.Equal(got[:2], []string{"h264 1280x720", "aac"}) {
				t.Errorf("%s: ffprobe streams %q", proto, got)
			}
			d := testenv.FFmpegDecode(ctx, t, url, time.Minute, append([]string{"-loglevel", "warning"}, extra[proto]...)...)
			if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames != 900 {
				t.Errorf("%s: %d of 900 frames, exit %v, warnings:\n%s", proto, d.Frames, d.Err, strings.Join(w, "\n"))
			}
		})
		if proto == "mp4" {
			continue // a progressive file seeks by ranges: the browser test shows it
		}
		wg.Go(func() {
			args := append([]string{"-loglevel", "warning", "-ss", "20"}, extra[proto]...)
			d := testenv.FFmpegDecode(ctx, t, url, time.Minute, args...)
			// From 20 s to the end: 300 pictures. Starting a GOP (1 s) early, or a GOP late,
			// is 30 more or fewer.
			if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < 285 || d.Frames > 315 {
				t.Errorf("%s: -ss 20 decoded %d pictures, want about 300; exit %v, warnings:\n%s", proto, d.Frames, d.Err, strings.Join(w, "\n"))
			}
		})
	}
	wg.Wait()
}
