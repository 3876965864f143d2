// Package timeshift_test is time-shift on a ten-minute publish: the second a player asks for,
// minutes back, across a kill -9 and a restart of the server. It waits on the clock, not on
// the CPU: `make test` runs it beside the other tests.
package timeshift_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

const (
	path        = "live/cam"
	clipSeconds = 600
	frame       = 34 * time.Millisecond // one picture at 30 fps, rounded up
)

// piece is one publish: the clip from second offset on, sent from wall on.
type piece struct {
	wall   time.Time
	offset int
}

// timeline is the publishes, in order: which second of the clip was live when.
type timeline []piece

// second is the clip's second live at w, to the publisher's clock (a few hundred
// milliseconds ahead of the server's, which starts counting at the first frame).
func (tl timeline) second(w time.Time) int {
	p := tl[0]
	for _, q := range tl {
		if !q.wall.After(w) {
			p = q
		}
	}
	return p.offset + int(w.Sub(p.wall).Seconds())
}

// within says whether a player shows the second asked for at w: the keyframe (one a second)
// shown at or before it.
func (tl timeline) within(got int, w time.Time) bool {
	want := tl.second(w)
	return got == want || got == want-1
}

type server struct {
	p          *testenv.Proc
	rtmp, http string
}

var listening = regexp.MustCompile(`msg="relaycast listening" rtmp=(\S+) rtsp=\S+ http=(\S+)`)

// startServer starts the relaycast binary recording into media in one-minute files, with a
// 15-minute DVR window.
func startServer(t *testing.T, bin, media string) *server {
	t.Helper()
	p := testenv.StartProc(t, bin, "-demo=false", "-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-srt", "", "-webrtc", "", "-rtsp-rtp-port", "0", "-rtmps", "", "-rtsps", "", "-https", "",
		"-media-dir", media, "-record", "-record-segment", "1m", "-dvr", "15m")
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := listening.FindStringSubmatch(p.Stderr()); m != nil {
			return &server{p: p, rtmp: m[1], http: m[2]}
		}
		if p.Exited() {
			t.Fatalf("relaycast exited:\n%s", p.Stderr())
		}
	}
	t.Fatalf("relaycast did not listen in 20 s:\n%s", p.Stderr())
	return nil
}

func (s *server) url(p string) string { return "http://" + s.http + p }

// publish sends the clip from second offset, in real time, and notes when.
func publish(t *testing.T, s *server, clip string, offset int, tl *timeline) *testenv.Proc {
	t.Helper()
	*tl = append(*tl, piece{wall: time.Now(), offset: offset})
	return testenv.StartProc(t, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-ss", strconv.Itoa(offset),
		"-i", clip, "-c", "copy", "-f", "flv", "rtmp://"+s.rtmp+"/"+path)
}

// A ten-minute publish, with a kill -9 of the server at 200 s and a restart at 400 s, each
// followed by a new publish from where the clip had got to. While it is live, the DVR window
// 300 s back (from before the kill) shows that second to ffmpeg and to Chromium. Once it is
// over, the playback API answers ranges at clock times in each of the three publishes and
// 300 s back: the right second first, as long as asked within a frame, 0 decoder warnings;
// HLS across the kill's hole marks it. The book agrees with ffprobe on every file, and
// retention deletes from the oldest with the book agreeing with the directory.
func TestTenMinutePublishRewindsAndPlaysRangesAcrossKillAndRestart(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe", "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 28*time.Minute)
	defer cancel()
	dir := t.TempDir()
	clip := testenv.TimecodeClip(t, dir, clipSeconds)
	media := filepath.Join(dir, "media")
	bin := testenv.GoBuild(t, "github.com/relaycast/relaycast/cmd/relaycast")

	var tl timeline
	srv := startServer(t, bin, media)
	t0 := time.Now()
	pub := publish(t, srv, clip, 0, &tl)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

	time.Sleep(time.Until(at(200)))
	srv.p.Kill()
	pub.Kill()
	time.Sleep(3 * time.Second) // a supervisor's restart delay: a hole of about 4 s
	srv = startServer(t, bin, media)
	pub = publish(t, srv, clip, int(math.Ceil(time.Since(t0).Seconds())), &tl)

	time.Sleep(time.Until(at(400)))
	if err := srv.p.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, srv.p.Stderr())
	}
	_ = pub.Wait(10 * time.Second)
	time.Sleep(2 * time.Second)
	srv = startServer(t, bin, media)
	pub = publish(t, srv, clip, int(math.Ceil(time.Since(t0).Seconds())), &tl)

	time.Sleep(time.Until(at(460)))
	checkLiveRewind(ctx, t, srv, tl)

	if err := pub.Wait(4 * time.Minute); err != nil {
		t.Fatalf("publish: %v\n%s", err, pub.Stderr())
	}
	book := waitClosed(t, srv)
	checkBook(ctx, t, media, book, tl)
	checkRanges(ctx, t, srv, tl)

	if err := srv.p.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, srv.p.Stderr())
	}
	checkRetention(t, media, book)
}

// checkLiveRewind: 300 s back on a live stream, over dvr.m3u8 (ffmpeg) and dvr.mp4 (Chromium).
func checkLiveRewind(ctx context.Context, t *testing.T, srv *server, tl timeline) {
	t.Helper()
	res, err := http.Get(srv.url("/" + path + "/dvr.m3u8?start=-300"))
	if err != nil {
		t.Fatal(err)
	}
	playlist, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(playlist), "#EXT-X-PLAYLIST-TYPE:EVENT") {
		t.Fatalf("dvr.m3u8?start=-300: %s\n%s", res.Status, playlist)
	}
	u := res.Request.URL.String()
	asked := testenv.StartOf(t, u)
	fromStart := []string{"-live_start_index", "0"}
	if got := firstSecond(ctx, t, u, fromStart...); !tl.within(got, asked) {
		t.Errorf("dvr.m3u8?start=-300 (%s): second %d first, want %d", asked.Format(time.TimeOnly), got, tl.second(asked))
	}
	d := testenv.FFmpegDecode(ctx, t, u, 10*time.Second, append([]string{"-loglevel", "warning"}, fromStart...)...)
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(10*time.Second) {
		t.Errorf("dvr.m3u8?start=-300: %d pictures, exit %v, warnings:\n%s", d.Frames, d.Err, strings.Join(w, "\n"))
	}

	got, at := chromiumSecond(t, srv.url("/"+path+"/dvr.mp4?start=-300"))
	if asked = testenv.StartOf(t, at); !tl.within(got, asked) {
		t.Errorf("Chromium, dvr.mp4?start=-300: second %d first, want %d", got, tl.second(asked))
	}
}

// checkRanges asks the playback API for 20 s at a clock time in each publish, and 300 s
// back, as MP4; and for 30 s across the kill's hole as HLS.
func checkRanges(ctx context.Context, t *testing.T, srv *server, tl timeline) {
	t.Helper()
	tmp := t.TempDir()
	const length = 20 * time.Second
	for i, w := range []time.Time{tl[0].wall.Add(30500 * time.Millisecond), tl[1].wall.Add(50500 * time.Millisecond),
		tl[2].wall.Add(100500 * time.Millisecond), {}} {
		u := srv.url("/api/v1/recordings/" + path + "/playback?start=" + url.QueryEscape(w.UTC().Format(time.RFC3339Nano)) +
			"&duration=" + strconv.Itoa(int(length.Seconds())))
		relative := w.IsZero()
		if relative {
			u = srv.url("/api/v1/recordings/" + path + "/playback?start=-300&duration=20")
			w = time.Now().Add(-300 * time.Second)
		}
		file := filepath.Join(tmp, fmt.Sprintf("range-%d.mp4", i))
		start := download(t, u, file)
		var slack time.Duration // how much later the server may have read "-300"
		if relative {
			slack = time.Since(w.Add(300 * time.Second))
		}
		if got := firstSecond(ctx, t, file); !tl.within(got, w) && !tl.within(got, w.Add(slack)) {
			t.Errorf("range at %s: second %d first, want %d", w.Format(time.TimeOnly), got, tl.second(w))
		}
		want := w.Add(length).Sub(start)
		if got := testenv.ProbeDuration(ctx, t, file); got < want-frame || got > want+slack+frame {
			t.Errorf("range at %s: %v long by ffprobe, want %v (from the keyframe at %s)", w.Format(time.TimeOnly), got, want, start.Format(time.TimeOnly))
		}
		d := testenv.FFmpegDecode(ctx, t, file, time.Minute, "-loglevel", "warning")
		if wn := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(wn) > 0 || d.Frames < 595 || d.Frames > 635 {
			t.Errorf("range at %s: %d pictures, exit %v, warnings:\n%s", w.Format(time.TimeOnly), d.Frames, d.Err, strings.Join(wn, "\n"))
		}
	}
	w := tl[2].wall.Add(150500 * time.Millisecond)
	if got, _ := chromiumSecond(t, srv.url("/api/v1/recordings/"+path+"/playback?duration=10&start="+url.QueryEscape(w.UTC().Format(time.RFC3339Nano)))); !tl.within(got, w) {
		t.Errorf("Chromium, range at %s: second %d first, want %d", w.Format(time.TimeOnly), got, tl.second(w))
	}

	// across the kill: 10 s before it, the hole, and the rest after the new publish
	w = tl[1].wall.Add(-10500 * time.Millisecond)
	u := srv.url("/api/v1/recordings/" + path + "/playback?format=hls&duration=30&start=" + url.QueryEscape(w.UTC().Format(time.RFC3339Nano)))
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	playlist, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if n := strings.Count(string(playlist), "#EXT-X-DISCONTINUITY\n"); res.StatusCode != http.StatusOK || n != 1 {
		t.Errorf("HLS across the kill: %s, %d discontinuities, want 1:\n%s", res.Status, n, playlist)
	}
	if got := firstSecond(ctx, t, u); !tl.within(got, w) {
		t.Errorf("HLS across the kill: second %d first, want %d", got, tl.second(w))
	}
	hole := tl[1].wall.Sub(tl[0].wall.Add(200 * time.Second))
	d := testenv.FFmpegDecode(ctx, t, u, time.Minute, "-loglevel", "warning")
	if wn, want := testenv.DecoderWarnings(d.Stderr), int((30*time.Second-hole).Seconds()*30); d.Err != nil || len(wn) > 0 || d.Frames < want-60 || d.Frames > want+60 {
		t.Errorf("HLS across the kill: %d pictures (want about %d), exit %v, warnings:\n%s", d.Frames, want, d.Err, strings.Join(wn, "\n"))
	}
}

// download saves a playback range and returns when its first picture is shown
// (X-Relaycast-Start).
func download(t *testing.T, u, file string) time.Time {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v %.200s", u, res.Status, err, b)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	start, err := time.Parse(time.RFC3339Nano, res.Header.Get("X-Relaycast-Start"))
	if err != nil {
		t.Fatalf("X-Relaycast-Start: %v", err)
	}
	return start
}

// waitClosed waits for the recorder to close the last file.
func waitClosed(t *testing.T, srv *server) testenv.Recordings {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		b := testenv.ListRecordings(t, srv.url("/api/v1/recordings/"+path))
		if n := len(b.Segments); n > 0 && !b.Segments[n-1].Writing {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last recording was not closed: %+v", b)
		}
	}
}

// checkBook: each file as long as ffprobe says, within a frame; the files one after the other
// but at the kill's and the restart's holes, which are the book's two gaps.
func checkBook(ctx context.Context, t *testing.T, media string, b testenv.Recordings, tl timeline) {
	t.Helper()
	if len(b.Segments) < 12 || len(b.Gaps) != 2 {
		t.Errorf("the book: %d files and %d gaps, want 12 or more and 2 (the kill's, the restart's)", len(b.Segments), len(b.Gaps))
	}
	for i, g := range b.Gaps {
		if i < 2 && (g.End.Before(tl[i+1].wall) || g.End.Sub(tl[i+1].wall) > 2*time.Second) {
			t.Errorf("gap %d ends at %v, want when publish %d began (%v)", i, g.End, i+2, tl[i+1].wall)
		}
	}
	for i, s := range b.Segments {
		if i > 0 && s.Start.Before(b.Segments[i-1].End.Add(-100*time.Millisecond)) {
			t.Errorf("file %d starts at %v, before the one before ends (%v)", i, s.Start, b.Segments[i-1].End)
		}
		got := time.Duration(s.Duration * float64(time.Second))
		if want := testenv.ProbeDuration(ctx, t, filepath.Join(media, s.File)); (got - want).Abs() > frame {
			t.Errorf("file %d (%s): %v in the book, %v by ffprobe", i, s.File, got, want)
		}
	}
}

// checkRetention restarts with a limit that leaves all but the two oldest files: the book
// loses them too, and lists what the directory holds.
func checkRetention(t *testing.T, media string, before testenv.Recordings) {
	t.Helper()
	var total int64
	for _, s := range before.Segments {
		total += s.Bytes
	}
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.MediaDir, c.Record, c.RecordSegment = media, true, time.Minute
		c.RecordMaxBytes = int(total - before.Segments[0].Bytes - before.Segments[1].Bytes)
	}})
	var b testenv.Recordings
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		b = testenv.ListRecordings(t, srv.HTTPURL("/api/v1/recordings/"+path))
		if len(b.Segments) == len(before.Segments)-2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after retention the book has %d files, want %d", len(b.Segments), len(before.Segments)-2)
		}
	}
	var booked, onDisk []string
	for _, s := range b.Segments {
		booked = append(booked, filepath.Base(s.File))
	}
	entries, err := os.ReadDir(filepath.Join(media, "recordings", path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".mp4") {
			onDisk = append(onDisk, e.Name())
		}
	}
	if !slices.Equal(booked, onDisk) || booked[0] != filepath.Base(before.Segments[2].File) {
		t.Errorf("after retention the book lists %q, the directory holds %q; the oldest kept should be %s", booked, onDisk, before.Segments[2].File)
	}
}

// firstSecond is the second the first picture of a URL or file shows, as ffmpeg decodes it.
func firstSecond(ctx context.Context, t *testing.T, u string, extra ...string) int {
	t.Helper()
	args := append(append([]string{"-v", "error"}, extra...), "-i", u, "-frames:v", "1",
		"-vf", fmt.Sprintf("crop=%d:40:0:%d", testenv.TimecodeWidth, testenv.TimecodeBandY+20), "-f", "rawvideo", "-pix_fmt", "gray", "-")
	out, err := exec.CommandContext(ctx, "ffmpeg", args...).Output()
	if err != nil || len(out) != testenv.TimecodeWidth*40 {
		t.Fatalf("first picture of %s: %v (%d bytes)", u, err, len(out))
	}
	return testenv.TimecodeOf(out)
}

// chromiumSecond is the second the first picture of an MP4 URL shows in Chromium, which
// plays it in a video element of its own, and the URL it played after redirects.
func chromiumSecond(t *testing.T, u string) (int, string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("chromium"), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-quic", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, stop := context.WithTimeout(bctx, time.Minute)
	defer stop()
	if err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.Poll[chromedp.Void](`(() => {
  const v = document.querySelector('video');
  if (!v) return false;
  if (!v.dataset.seeked) { v.dataset.seeked = 1; v.pause(); v.currentTime = 0; }
  return v.readyState >= 2 && !v.seeking;
})()`, chromedp.WithPollingTimeout(40*time.Second))); err != nil {
		t.Fatalf("Chromium, %s: %v", u, err)
	}
	b64, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
  const v = document.querySelector('video'), c = document.createElement('canvas');
  c.width = %d; c.height = %d;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0, c.width, c.height);
  const d = g.getImageData(0, %d, c.width, 40).data, out = [];
  for (let i = 1; i < d.length; i += 4) out.push(d[i]);
  return btoa(String.fromCharCode(...out));
})()`, testenv.TimecodeWidth, testenv.TimecodeHeight, testenv.TimecodeBandY+20)))
	band, _ := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(band) != testenv.TimecodeWidth*40 {
		t.Fatalf("Chromium, %s: %d bytes of the band, %v", u, len(band), err)
	}
	at, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil {
		t.Fatalf("Chromium, %s: %v", u, err)
	}
	return testenv.TimecodeOf(band), at
}
