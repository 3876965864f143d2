package vod_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// A playlist path of two files is a live stream: over RTMP its timestamps run on across
// the join of the two files and across the loop back to the first, every packet after the
// one before and none far after it, and ffmpeg decodes across both joins with no warning.
func TestPlaylistPlaysAsOneLiveStreamAcrossItsFiles(t *testing.T) {
	testenv.NeedTools(t, "ffprobe", "ffmpeg")
	dir := mediaDirWithClip(t)
	clip, err := os.ReadFile(filepath.Join(dir, "clip.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "shows"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "shows", "second.mp4"), clip, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.MediaDir = dir
		c.Paths = map[string]conf.Path{"live/list": {Playlist: []string{"clip.mp4", "shows/second.mp4"}}}
	}})
	testenv.WaitLive(t, srv, "live/list", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	decoded := make(chan testenv.Decode, 1)
	go func() {
		decoded <- testenv.FFmpegDecode(ctx, t, srv.URL("live/list"), 14*time.Second, "-loglevel", "warning")
	}()
	// The files are 6 s each: 14 s of stream hold at least two joins.
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-read_intervals", "%+14",
		"-show_entries", "packet=stream_index,dts_time", "-of", "csv=p=0", srv.URL("live/list")).Output()
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]float64{}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 2 {
			continue
		}
		dts, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		if prev, ok := last[f[0]]; ok && (dts <= prev || dts-prev > 0.15) {
			t.Errorf("stream %s: dts %.3f after %.3f", f[0], dts, prev)
		}
		last[f[0]] = dts
		count[f[0]]++
	}
	if count["0"] < 13*30 || count["1"] < 13*40 {
		t.Errorf("packets in 14 s: %v", count)
	}
	d := <-decoded
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(14*time.Second) {
		t.Errorf("ffmpeg across the joins: %d frames, exit %v, warnings:\n%s", d.Frames, d.Err, strings.Join(w, "\n"))
	}
}
