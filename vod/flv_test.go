package vod_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
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

// remuxed makes the sample as ffmpeg writes it without faststart (moov at the end) and as
// an FLV, both with -c copy: the same frames in other files.
func remuxed(t *testing.T, dir string) (late, flv string) {
	t.Helper()
	testenv.NeedTools(t, "ffmpeg")
	late, flv = filepath.Join(dir, "late.mp4"), filepath.Join(dir, "flv.flv")
	for _, args := range [][]string{{late}, {"-f", "flv", flv}} {
		cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y", "-i", testenv.Sample(), "-c", "copy"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}
	return late, flv
}

// An FLV and an MP4 with its moov at the end play like any file: upload (the FLV by PUT),
// list, every protocol. Over HTTP, NAME.mp4 is a faststart MP4 made from the index (ranges
// of it read the same bytes as the whole), and NAME.flv the FLV as it is. A cut FLV is
// refused.
func TestFLVAndLateMoovFilesPlayEverywhere(t *testing.T) {
	dir := t.TempDir()
	late, flv := remuxed(t, t.TempDir())
	b, err := os.ReadFile(late)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "late.mp4"), b, 0o644); err != nil { // copied in by hand
		t.Fatal(err)
	}
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir }})
	flvBytes, err := os.ReadFile(flv)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, http.MethodPut, srv.HTTPURL("/api/v1/media/cut.flv"), flvBytes[:len(flvBytes)*2/3]); code != http.StatusUnprocessableEntity {
		t.Errorf("a cut FLV: %d %s, want 422", code, body)
	}
	if code, body := do(t, http.MethodPut, srv.HTTPURL("/api/v1/media/flv.flv"), flvBytes); code != http.StatusCreated {
		t.Fatalf("FLV upload: %d %s", code, body)
	}
	l := list(t, srv)
	if len(l.Media) != 2 || l.Media[0].Name != "flv" || l.Media[0].File != "flv.flv" || l.Media[1].Name != "late" {
		t.Fatalf("listed %+v", l.Media)
	}
	for _, e := range l.Media {
		if e.Duration < 5.5 || e.Duration > 6.5 || len(e.Tracks) != 2 || e.Tracks[0].Width != 1280 || e.Tracks[1].Codec != "aac" {
			t.Errorf("listed %+v", e)
		}
	}

	whole := get(t, srv.HTTPURL("/vod/flv.mp4"), "")
	if part := get(t, srv.HTTPURL("/vod/flv.mp4"), "bytes=100000-150000"); !bytes.Equal(part, whole[100000:150001]) {
		t.Errorf("a range of the remuxed file: %d bytes, not the whole's", len(part))
	}
	if i := bytes.Index(whole[:64<<10], []byte("moov")); i < 0 || i > bytes.Index(whole, []byte("mdat")) {
		t.Errorf("the remuxed file's moov is at %d, not before its mdat", i)
	}
	if raw := get(t, srv.HTTPURL("/vod/flv.flv"), ""); !bytes.Equal(raw, flvBytes) {
		t.Errorf("NAME.flv is not the FLV as uploaded (%d bytes of %d)", len(raw), len(flvBytes))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, name := range []string{"flv", "late"} {
		for _, url := range []string{srv.HTTPURL("/vod/" + name + ".mp4"), srv.HTTPURL("/vod/" + name + "/index.m3u8"), srv.URL("vod/" + name), srv.RTSPURL("vod/" + name)} {
			wg.Go(func() {
				extra := []string{"-loglevel", "warning"}
				if strings.HasPrefix(url, "rtsp:") {
					extra = append(extra, "-rtsp_transport", "tcp")
				}
				if got := slices.Compact(testenv.FFprobeStreams(ctx, t, url, extra[2:]...)); len(got) < 2 || !slices.Equal(got[:2], []string{"h264 1280x720", "aac"}) {
					t.Errorf("%s: ffprobe %q", url, got)
				}
				out, err := exec.CommandContext(ctx, "ffprobe", append([]string{"-v", "error"}, append(extra[2:], "-show_entries", "format=duration", "-of", "csv=p=0", url)...)...).Output()
				if sec, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err != nil || sec < 5.5 || sec > 6.5 {
					t.Errorf("%s: duration %q (%v)", url, out, err)
				}
				d := testenv.FFmpegDecode(ctx, t, url, 20*time.Second, extra...)
				if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames != 180 {
					t.Errorf("%s: %d of 180 frames, exit %v, warnings:\n%s", url, d.Frames, d.Err, strings.Join(w, "\n"))
				}
			})
		}
	}
	wg.Wait()
}

func get(t *testing.T, url, rng string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK && res.StatusCode != http.StatusPartialContent {
		t.Fatalf("GET %s %s: %d %v", url, rng, res.StatusCode, err)
	}
	return b
}

// An enhanced FLV file (H.265 and AAC, as OBS records HEVC) is indexed by the tag reader
// RTMP publishers go through, and plays like the MP4 of the same frames: listed with its
// codecs, and decoded cleanly over RTSP, enhanced RTMP and as a remuxed MP4.
func TestEnhancedFLVFilePlays(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	testenv.WriteFLV(t, filepath.Join(dir, "hevc.flv"), testenv.HEVCFrames(t))
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir }})
	l := list(t, srv)
	if len(l.Media) != 1 || len(l.Media[0].Tracks) != 2 || l.Media[0].Tracks[0].Codec != "hevc" || l.Media[0].Tracks[1].Codec != "aac" ||
		l.Media[0].Duration < 5.5 || l.Media[0].Duration > 6.5 {
		t.Fatalf("listed %+v", l.Media)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, url := range []string{srv.HTTPURL("/vod/hevc.mp4"), srv.RTSPURL("vod/hevc")} {
		var extra []string
		if strings.HasPrefix(url, "rtsp:") {
			extra = []string{"-rtsp_transport", "tcp"}
		}
		if got := testenv.FFprobeStreams(ctx, t, url, extra...); !slices.Equal(got[:min(2, len(got))], []string{"hevc 1280x720", "aac"}) {
			t.Errorf("%s: ffprobe %q", url, got)
		}
		d := testenv.FFmpegDecode(ctx, t, url, 20*time.Second, append([]string{"-loglevel", "warning"}, extra...)...)
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < 170 {
			t.Errorf("%s: %d of 180 pictures, exit %v, warnings:\n%s", url, d.Frames, d.Err, strings.Join(w, "\n"))
		}
	}
	p := testenv.PlayEnhanced(ctx, t, srv.URL("vod#hevc"), 3*time.Second)
	if warnings, n, err := p.DecodeVideo(ctx); err != nil || len(warnings) > 0 || n < 80 || p.Audio == 0 {
		t.Errorf("enhanced RTMP: %s %d pictures, %d %s frames, err %v, warnings %q", p.VideoCodec, n, p.Audio, p.AudioCodec, err, warnings)
	}
}
