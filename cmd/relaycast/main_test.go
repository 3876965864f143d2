package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testenv"
	"github.com/relaycast/relaycast/vod"
)

// TestDemoServerServesDemoAndStopsOnSIGTERM is `make run` as a newcomer sees it: the binary
// with its defaults serves a live 720p demo stream, and SIGTERM stops it cleanly in time.
func TestDemoServerServesDemoAndStopsOnSIGTERM(t *testing.T) {
	cmd, lines := startServer(t, "-media-dir", t.TempDir())
	line := waitLine(t, lines, regexp.MustCompile(`relaycast listening.*`))
	addr := regexp.MustCompile(`rtmp=(127\.0\.0\.1:\d+)`).FindStringSubmatch(line)[1]
	rtspAddr := regexp.MustCompile(`rtsp=(127\.0\.0\.1:\d+)`).FindStringSubmatch(line)[1]
	httpAddr := regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`).FindStringSubmatch(line)[1]
	waitLine(t, lines, regexp.MustCompile(`playlist live.* path=live/demo`))
	res, err := http.Get("http://" + httpAddr + "/api/v1/streams")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"path":"live/demo"`) {
		t.Fatalf("the web API does not list the demo: %s", body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := testenv.FFprobeStreams(ctx, t, "rtmp://"+addr+"/live/demo")
	if !slices.Equal(got, []string{"h264 1280x720", "aac"}) {
		t.Fatalf("demo streams = %q, want h264 1280x720 and aac", got)
	}
	d := testenv.FFmpegDecode(ctx, t, "rtmp://"+addr+"/live/demo", 3*time.Second)
	if d.Err != nil || d.Stderr != "" || d.Frames < 85 {
		t.Fatalf("demo playback: %d frames, exit %v, stderr:\n%s", d.Frames, d.Err, d.Stderr)
	}

	// Viewers watching when the server stops are told, and end cleanly.
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	viewers := map[string]chan testenv.Decode{}
	for name, url := range map[string]string{"rtmp": "rtmp://" + addr + "/live/demo", "rtsp": "rtsp://" + rtspAddr + "/live/demo"} {
		res := make(chan testenv.Decode, 1)
		viewers[name] = res
		go func() { res <- testenv.FFmpegDecode(pctx, t, url, time.Minute) }()
	}
	time.Sleep(2 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	exited := make(chan error, 1)
	go func() {
		for range lines { // drain so the process never blocks on stderr
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		t.Logf("stopped %v after SIGTERM", time.Since(stopped))
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after SIGTERM")
	}
	for name, res := range viewers {
		if d := <-res; d.Err != nil || d.Frames == 0 {
			t.Errorf("%s viewer at shutdown: %d frames, exit %v\n%s", name, d.Frames, d.Err, d.Stderr)
		}
	}
}

// startServer builds the binary and starts it on loopback ports of the system's choosing,
// with extra flags; its log lines come on the channel. It is killed when the test ends.
func startServer(t *testing.T, extra ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	args := append([]string{"-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-http", "127.0.0.1:0", "-rtsp-rtp-port", "0"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(sc.Text())
			select {
			case lines <- sc.Text():
			default: // nobody reads the log now
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd, lines
}

// A recording whose server is killed (kill -9) keeps every fragment written before: ffmpeg
// plays it to within about a second of the kill, with no warning, and the media list shows
// it when the server is back.
func TestRecordingCutByKillPlaysUpToItsLastFragment(t *testing.T) {
	media := t.TempDir()
	cmd, lines := startServer(t, "-media-dir", media, "-record")
	waitLine(t, lines, regexp.MustCompile(`msg=recording .*file=`))
	started := time.Now()
	time.Sleep(4500 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: nothing is flushed or closed
		t.Fatal(err)
	}
	recorded := time.Since(started)
	_ = cmd.Wait()
	files, _ := filepath.Glob(filepath.Join(media, "recordings", "live", "demo", "*.mp4"))
	if len(files) != 1 {
		t.Fatalf("recordings %v, want one", files)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := testenv.FFmpegDecode(ctx, t, files[0], time.Minute, "-loglevel", "warning")
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 {
		t.Fatalf("exit %v, warnings:\n%s", d.Err, strings.Join(w, "\n"))
	}
	// Fragments of a second: at most about a second (and the frames in flight) is lost.
	if want := int((recorded - 1500*time.Millisecond).Seconds() * 30); d.Frames < want {
		t.Fatalf("%d pictures of %v recorded, want ≥ %d", d.Frames, recorded, want)
	}
	lib, err := vod.Open(media, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	entries, _ := lib.List()
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name, "recordings/live/demo/") || entries[0].Duration < 2.5 {
		t.Fatalf("media list after the kill: %+v", entries)
	}
	t.Logf("%d pictures of %v, listed as %.2f s", d.Frames, recorded, entries[0].Duration)
}

func waitLine(t *testing.T, lines <-chan string, re *regexp.Regexp) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server exited before logging %v", re)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				if len(m) > 1 {
					return m[1]
				}
				return m[0]
			}
		case <-timeout:
			t.Fatalf("no log line matching %v", re)
		}
	}
}
