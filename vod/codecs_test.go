package vod_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// TestStoredH265AndAV1FilesPlay stores an H.265+AAC MP4 (as phones record) and an AV1+Opus
// MP4, each also with its moov at the end (ffmpeg's default): both are listed with their
// codecs and play cleanly over RTSP, enhanced RTMP and as MP4; the H.265 one over HLS too,
// while the AV1 one's HLS is refused with the reason (MPEG-TS carries no AV1).
func TestStoredH265AndAV1FilesPlay(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	for name, src := range map[string]string{"hevc": testenv.SampleHEVC(), "av1": mediatest.SampleAV1()} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".mp4"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", src, "-c", "copy",
			filepath.Join(dir, name+"-late.mp4")).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir }})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	want := map[string][]string{"hevc": {"hevc 1280x720", "aac"}, "av1": {"av1 1280x720", "opus"}}
	for name, codecs := range want {
		for _, file := range []string{name, name + "-late"} {
			check := func(what, url string, extra ...string) {
				// ffprobe lists an HLS stream's tracks twice: in its program and by themselves.
				if got := testenv.FFprobeStreams(ctx, t, url, extra...); !slices.Equal(got[:min(2, len(got))], codecs) {
					t.Errorf("%s of %s: ffprobe says %q, want %q", what, file, got, codecs)
				}
				d := testenv.FFmpegDecode(ctx, t, url, time.Minute, append([]string{"-loglevel", "warning"}, extra...)...)
				if d.Err != nil || d.Stderr != "" || d.Frames < 170 {
					t.Errorf("%s of %s: %d of 180 pictures decoded, exit %v\n%s", what, file, d.Frames, d.Err, d.Stderr)
				}
			}
			check("MP4", srv.HTTPURL("/vod/"+file+".mp4"))
			if name == "hevc" { // ffmpeg 5.1 has no AV1 RTP depacketizer
				check("RTSP", srv.RTSPURL("vod/"+file), "-rtsp_transport", "tcp")
				check("HLS", srv.HTTPURL("/vod/"+file+"/index.m3u8"))
			}
			p := testenv.PlayEnhanced(ctx, t, srv.URL("vod#"+file), 3*time.Second)
			if warnings, n, err := p.DecodeVideo(ctx); err != nil || len(warnings) > 0 || n < 80 || p.Audio == 0 {
				t.Errorf("enhanced RTMP of %s: %s %d pictures, %d %s frames, err %v, warnings %q", file, p.VideoCodec, n, p.Audio, p.AudioCodec, err, warnings)
			}
		}
	}
	if code, body := do(t, http.MethodGet, srv.HTTPURL("/vod/av1/index.m3u8"), nil); code != http.StatusUnprocessableEntity {
		t.Errorf("HLS of the AV1 file: %d %s, want 422 with the reason", code, body)
	}
	for _, e := range list(t, srv).Media {
		codecs := want[strings.TrimSuffix(e.Name, "-late")]
		if len(e.Tracks) != 2 || !strings.HasPrefix(codecs[0], e.Tracks[0].Codec+" ") || e.Tracks[1].Codec != codecs[1] {
			t.Errorf("the listing of %s: %+v, want %q", e.Name, e.Tracks, codecs)
		}
	}
}
