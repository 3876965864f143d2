package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/ladder"
)

// A single 720p publish with a ladder configured: the multivariant playlist lists the
// source and two transcoded rungs before any runs; nothing is transcoded while only the
// top is watched; a rung starts at its first request, ffmpeg reads it at its size with no
// warning, its keyframes are the source's (same timestamps), its CPU is counted per rung in
// the metrics, and it stops once nobody watches it.
func TestLadderTranscodesARungOnlyWhileWatched(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/lad": {Renditions: []string{"720p@2500k", "480p@1200k", "360p@600k"}}}
		c.LadderEncoder, c.LadderCloseAfter = ladder.EncoderX264, 2*time.Second
	}})
	testenv.PublishSample(t, srv.URL("live/lad"))
	testenv.WaitLive(t, srv, "live/lad", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	index := srv.HTTPURL("/live/lad/index.m3u8")
	master := get(t, index)
	t.Logf("multivariant playlist:\n%s", master)
	variants := regexp.MustCompile(`#EXT-X-STREAM-INF:([^\n]*)\n([^\n]+)`).FindAllStringSubmatch(master, -1)
	sizes := []string{"640x360", "854x480", "1280x720"}
	if len(variants) != 3 {
		t.Fatalf("%d variants, want 3 (the source and two rungs below it)", len(variants))
	}
	for i, v := range variants {
		for _, want := range []string{"RESOLUTION=" + sizes[i], `CODECS="avc1.`, `mp4a.40.2"`, "FRAME-RATE=", `AUDIO="audio"`} {
			if !strings.Contains(v[1], want) {
				t.Errorf("variant %d (%s): no %s", i, v[1], want)
			}
		}
	}
	// The top alone watched: nothing transcoded.
	top := resolve(t, index, variants[2][2])
	if d := testenv.FFmpegDecode(ctx, t, top, 3*time.Second); d.Err != nil {
		t.Fatalf("top: %v %s", d.Err, d.Stderr)
	}
	if st := srv.Ladder.Stats(); len(st) != 0 {
		t.Fatalf("rungs ran while only the top was watched: %+v", st)
	}

	for i, v := range variants[:2] {
		u := resolve(t, index, v[2])
		if got := slices.Compact(testenv.FFprobeStreams(ctx, t, u)); len(got) != 1 || got[0] != "h264 "+sizes[i] {
			t.Errorf("rung %s: ffprobe %v, want h264 %s", sizes[i], got, sizes[i])
		}
		d := testenv.FFmpegDecode(ctx, t, u, 4*time.Second)
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(4*time.Second) {
			t.Errorf("rung %s: %d pictures, %v, warnings %q", sizes[i], d.Frames, d.Err, w)
		}
		// the rung's playlist and then the top's: the rung's newest keyframes are among the
		// top's oldest
		keys := keyframes(ctx, t, u)
		if shared := alignedKeys(t, sizes[i], keys, keyframes(ctx, t, top)); shared < 2 {
			t.Errorf("rung %s: %d keyframes at the source's times, want at least 2", sizes[i], shared)
		}
	}
	stats := srv.Ladder.Stats()
	t.Logf("rungs: %+v", stats)
	if len(stats) != 2 {
		t.Fatalf("%d rungs ran, want 2", len(stats))
	}
	for _, st := range stats {
		if st.CPU <= 0 {
			t.Errorf("rung %s: no CPU counted", st.Rung)
		}
	}
	metrics := get(t, srv.HTTPURL("/metrics"))
	for _, rung := range []string{"480p@1200k", "360p@600k"} {
		if !regexp.MustCompile(`relaycast_ladder_cpu_seconds_total\{encoder="libx264",path="live/lad",rung="` + rung + `"\} [0-9.e+-]+`).MatchString(metrics) {
			t.Errorf("metrics: no CPU of rung %s", rung)
		}
	}
	// Nobody watches the rungs now: they stop after ladder_close_after.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && slices.ContainsFunc(srv.Ladder.Stats(), func(s ladder.Stat) bool { return s.Running }) {
		time.Sleep(200 * time.Millisecond)
	}
	if running := slices.DeleteFunc(srv.Ladder.Stats(), func(s ladder.Stat) bool { return !s.Running }); len(running) > 0 {
		t.Errorf("rungs still running 10 s after their viewers left: %+v", running)
	}
}

// keyframes are the presentation times (90 kHz) of the keyframes in the first 6 s of an
// HLS video playlist.
func keyframes(ctx context.Context, t *testing.T, u string) []int64 {
	t.Helper()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+6",
		"-show_entries", "packet=pts,flags", "-of", "csv=p=0", u).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", u, err)
	}
	var keys []int64
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) == 2 && strings.Contains(f[1], "K") {
			pts, _ := strconv.ParseInt(f[0], 10, 64)
			keys = append(keys, pts)
		}
	}
	return keys
}

// alignedKeys checks that every keyframe of a rung within the span of the source's is one
// of the source's, and returns how many there are.
func alignedKeys(t *testing.T, name string, rung, source []int64) int {
	t.Helper()
	if len(source) == 0 || len(rung) == 0 {
		t.Errorf("rung %s: keyframes %v, source's %v", name, rung, source)
		return 0
	}
	lo, hi := slices.Min(source), slices.Max(source)
	shared := 0
	for _, k := range rung {
		switch {
		case k < lo || k > hi:
		case slices.Contains(source, k):
			shared++
		default:
			t.Errorf("rung %s: keyframe at %d, not one of the source's %v", name, k, source)
		}
	}
	t.Logf("rung %s: keyframes %v; source's %v", name, rung, source)
	return shared
}
