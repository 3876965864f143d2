package record_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// recordings returns the recording files of a path, oldest first (their names sort so).
func recordings(t *testing.T, srv *testenv.Server, path string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(srv.Config().MediaDir, "recordings", path, "*.mp4"))
	slices.Sort(files)
	return files
}

// probe returns a file's duration and whether its first video packet is a keyframe.
func probe(t *testing.T, file string) (time.Duration, bool) {
	t.Helper()
	testenv.NeedTools(t, "ffprobe")
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	sec, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s: duration %q", file, out)
	}
	first, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
		"-show_entries", "packet=flags", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	return time.Duration(sec * float64(time.Second)), strings.HasPrefix(strings.TrimSpace(string(first)), "K")
}

// decodesCleanly decodes a whole file of media time d with ffmpeg and fails on any warning
// or fewer than minFrames pictures.
func decodesCleanly(t *testing.T, file string, d time.Duration, minFrames int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dec := testenv.FFmpegDecode(ctx, t, file, d+time.Second, "-loglevel", "warning")
	if w := testenv.DecoderWarnings(dec.Stderr); dec.Err != nil || len(w) > 0 {
		t.Fatalf("%s: exit %v, warnings:\n%s", file, dec.Err, strings.Join(w, "\n"))
	}
	if dec.Frames < minFrames {
		t.Fatalf("%s: %d pictures decoded, want ≥ %d", file, dec.Frames, minFrames)
	}
}

// A recorded live stream rolls over to a new file at the first keyframe after
// record_segment; every file starts with a keyframe, lasts a segment, decodes cleanly, and
// is listed among the stored media.
func TestRecordingRollsOverAtKeyframesAndEveryFilePlays(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Record, c.RecordSegment = true, 2*time.Second
	}})
	pub := testenv.PublishSample(t, srv.URL("live/rec"))
	testenv.WaitLive(t, srv, "live/rec", 10*time.Second)
	time.Sleep(7 * time.Second)
	pub.Kill()
	waitEnded(t, srv, "live/rec")

	files := recordings(t, srv, "live/rec")
	if len(files) < 3 {
		t.Fatalf("%d recording files after 7 s of 2 s segments: %v", len(files), files)
	}
	var total time.Duration
	for i, f := range files {
		d, key := probe(t, f)
		total += d
		if !key {
			t.Errorf("%s does not start with a keyframe", f)
		}
		// The clip has a keyframe every second: a segment is 2 s, the last one what was left.
		if i < len(files)-1 && (d < 1900*time.Millisecond || d > 2100*time.Millisecond) {
			t.Errorf("%s lasts %v, want 2 s", f, d)
		}
		decodesCleanly(t, f, d, int(d.Seconds()*30)-2)
	}
	if total < 6*time.Second || total > 9*time.Second {
		t.Errorf("the recordings add up to %v of a 7-8 s publish", total)
	}

	res, err := http.Get(srv.HTTPURL("/api/v1/media"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	type entry struct {
		Name     string  `json:"name"`
		Duration float64 `json:"duration_seconds"`
	}
	var listed struct{ Media []entry }
	if err := json.Unmarshal(body, &listed); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := "recordings/live/rec/" + strings.TrimSuffix(filepath.Base(files[0]), ".mp4")
	if !slices.ContainsFunc(listed.Media, func(e entry) bool { return e.Name == want && e.Duration > 1.9 }) {
		t.Errorf("the media list lacks %s: %s", want, body)
	}

	// A recording plays like any stored file: over RTMP in real time, and as HLS VOD.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, url := range map[string]string{
		"rtmp": srv.URL("vod/" + want), "hls": srv.HTTPURL("/vod/" + want + "/index.m3u8"),
	} {
		d := testenv.FFmpegDecode(ctx, t, url, 3*time.Second, "-loglevel", "warning")
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < 2*30-2 {
			t.Errorf("%s playback of %s: %d pictures, exit %v, warnings:\n%s", name, want, d.Frames, d.Err, strings.Join(w, "\n"))
		}
	}
}

// A publisher that takes over within the grace window goes on in the same file; a publish
// after the stream ended starts a new one.
func TestHandOverContinuesTheFileAndANewPublishStartsOne(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.Record = true }})
	first := testenv.PublishSample(t, srv.URL("live/hand"))
	testenv.WaitLive(t, srv, "live/hand", 10*time.Second)
	time.Sleep(2 * time.Second)
	first.Kill()
	time.Sleep(500 * time.Millisecond) // within the 2 s grace window
	second := testenv.PublishSample(t, srv.URL("live/hand"))
	time.Sleep(3 * time.Second)
	second.Kill()
	waitEnded(t, srv, "live/hand")
	if files := recordings(t, srv, "live/hand"); len(files) != 1 {
		t.Fatalf("files after a hand-over: %v, want one", files)
	} else if d, _ := probe(t, files[0]); d < 4*time.Second {
		t.Fatalf("the file lasts %v, want both publishers' 5 s", d)
	} else {
		decodesCleanly(t, files[0], d, 4*30) // 5 s published, less the joins' first GOP
	}

	time.Sleep(time.Second) // the next file's name is the next second
	third := testenv.PublishSample(t, srv.URL("live/hand"))
	testenv.WaitLive(t, srv, "live/hand", 10*time.Second)
	time.Sleep(2 * time.Second)
	third.Kill()
	waitEnded(t, srv, "live/hand")
	if files := recordings(t, srv, "live/hand"); len(files) != 2 {
		t.Fatalf("files after a new publish: %v, want two", files)
	}
}

// A path can be left out of recording (paths: live/x: record: false).
func TestPathSettingTurnsRecordingOff(t *testing.T) {
	off := false
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Record = true
		c.Paths = map[string]conf.Path{"live/private": {Record: &off}}
	}})
	testenv.PublishDemo(t, srv, "live/private")
	testenv.PublishDemo(t, srv, "live/public")
	time.Sleep(2 * time.Second)
	if files := recordings(t, srv, "live/private"); len(files) != 0 {
		t.Errorf("live/private recorded: %v", files)
	}
	if files := recordings(t, srv, "live/public"); len(files) != 1 {
		t.Errorf("live/public recordings: %v, want one", files)
	}
}

// waitEnded waits for a stream's grace window to pass and the recordings to close.
func waitEnded(t *testing.T, srv *testenv.Server, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := srv.Relays.Lookup(path); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still live", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for len(srv.Record.Writing()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still recording %v", srv.Record.Writing())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The control API starts the recording of a live path that is not recorded, and stops it
// while the stream goes on: the file is closed and plays.
func TestControlAPIStartsAndStopsARecording(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/rec")
	do := func(method, path string) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.HTTPURL(path), nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, body)
		}
		return strings.TrimSpace(string(body))
	}
	time.Sleep(time.Second)
	if files := recordings(t, srv, "live/rec"); len(files) != 0 {
		t.Fatalf("recorded before asked: %v", files)
	}
	do("PUT", "/api/v1/record/live/rec")
	if got := do("GET", "/api/v1/record"); got != `{"recording":["live/rec"]}` {
		t.Errorf("GET /api/v1/record: %s", got)
	}
	time.Sleep(3 * time.Second)
	do("DELETE", "/api/v1/record/live/rec")
	for deadline := time.Now().Add(5 * time.Second); len(srv.Record.Writing()) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still writing %v after the stop", srv.Record.Writing())
		}
	}
	if _, err := srv.Relays.Lookup("live/rec"); err != nil {
		t.Fatalf("the stream ended with its recording: %v", err)
	}
	files := recordings(t, srv, "live/rec")
	if len(files) != 1 {
		t.Fatalf("recordings %v, want one", files)
	}
	d, key := probe(t, files[0])
	if d < 2*time.Second || !key {
		t.Fatalf("the recording lasts %v (first picture a keyframe: %v), want about 3 s from a keyframe", d, key)
	}
	decodesCleanly(t, files[0], d, int(d.Seconds()*30*0.9))
	if got := do("GET", "/api/v1/record"); got != `{"recording":[]}` {
		t.Errorf("GET /api/v1/record after the stop: %s", got)
	}
}
