package e2e

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// firstSecond is the second a seconds clip's first picture at url shows, from the mean of a
// patch of its band (ffmpeg's gray is full range, as SecondOf takes it).
func firstSecond(ctx context.Context, t *testing.T, url string, extra ...string) int {
	t.Helper()
	args := append(append([]string{"-v", "error"}, extra...), "-i", url, "-frames:v", "1",
		"-vf", "crop=64:64:600:560", "-f", "rawvideo", "-pix_fmt", "gray", "-")
	out, err := exec.CommandContext(ctx, "ffmpeg", args...).Output()
	if err != nil || len(out) != 64*64 {
		t.Fatalf("first picture of %s: %v (%d bytes)", url, err, len(out))
	}
	var sum int
	for _, b := range out {
		sum += int(b)
	}
	return testenv.SecondOf(float64(sum) / float64(len(out)))
}

// A time range of a recording, asked for by wall-clock time, comes back as one MP4 across
// the files it spans: from the keyframe at or before its start (the picture shows that
// second), as long as asked from there within a frame, decoded with 0 warnings, with byte
// ranges.
func TestPlaybackOfATimeRangeAcrossRecordingFiles(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe", "curl")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clip := testenv.SecondsClip(t, t.TempDir(), 20)
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.Record, c.RecordSegment = true, 4*time.Second }})
	const path = "live/range"
	pub := testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "flv", srv.URL(path))
	if err := pub.Wait(40 * time.Second); err != nil {
		t.Fatalf("publish: %v %s", err, pub.Stderr())
	}
	var l recordingsList
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		l = listRecordings(t, srv, path)
		if n := len(l.Segments); n > 0 && !l.Segments[n-1].Writing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recording was not closed: %+v", l)
		}
	}
	if len(l.Segments) < 4 {
		t.Fatalf("want 4 s files of a 20 s publish, got %+v", l)
	}
	zero := l.Segments[0].Start // the clip's second 0
	for _, tc := range []struct{ from, length float64 }{{9.5, 6}, {2.5, 12.75}} {
		from := zero.Add(time.Duration(tc.from * float64(time.Second)))
		u := srv.HTTPURL("/api/v1/recordings/" + path + "/playback?start=" + url.QueryEscape(from.Format(time.RFC3339Nano)) +
			"&duration=" + strconv.FormatFloat(tc.length, 'f', -1, 64))
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "video/mp4" || res.Header.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("GET %s: %s %q %q", u, res.Status, res.Header, body[:min(len(body), 200)])
		}
		start, err := time.Parse(time.RFC3339Nano, res.Header.Get("X-Relaycast-Start"))
		if err != nil || start.After(from) || from.Sub(start) > time.Second {
			t.Errorf("from %.2f s: the clip starts at %v (%v), want the keyframe at or before %v", tc.from, start, err, from)
		}
		if got, want := firstSecond(ctx, t, u), int(math.Floor(tc.from)); got != want {
			t.Errorf("from %.2f s: the first picture shows second %d, want %d", tc.from, got, want)
		}
		want := from.Add(time.Duration(tc.length * float64(time.Second))).Sub(start)
		if got := testenv.ProbeDuration(ctx, t, u); (got - want).Abs() > 34*time.Millisecond {
			t.Errorf("from %.2f s for %.2f s: ffprobe reads %v, want %v (from the keyframe) within a frame", tc.from, tc.length, got, want)
		}
		d := testenv.FFmpegDecode(ctx, t, u, time.Minute, "-loglevel", "warning")
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || math.Abs(float64(d.Frames)-30*want.Seconds()) > 2 {
			t.Errorf("from %.2f s: %d pictures (want %.0f), exit %v, warnings:\n%s", tc.from, d.Frames, 30*want.Seconds(), d.Err, strings.Join(w, "\n"))
		}
		out, err := exec.CommandContext(ctx, "curl", "-sS", "-r", "5000-9999", "-o", "-", "-w", "%{http_code}", u).Output()
		if err != nil || len(out) != 5003 || string(out[5000:]) != "206" || !bytes.Equal(out[:5000], body[5000:10000]) {
			t.Errorf("range request: %d bytes, %v", len(out), err)
		}
	}

	// a second publish after a hole: HLS of a range across it marks the hole, and plays
	time.Sleep(3 * time.Second)
	again := testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-t", "6", "-i", clip, "-c", "copy", "-f", "flv", srv.URL(path))
	if err := again.Wait(30 * time.Second); err != nil {
		t.Fatalf("publish: %v %s", err, again.Stderr())
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		l = listRecordings(t, srv, path)
		if n := len(l.Gaps); n == 1 && !l.Segments[len(l.Segments)-1].Writing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want the second publish closed after one gap: %+v", l)
		}
	}
	from, length := zero.Add(15*time.Second), l.Gaps[0].End.Sub(zero.Add(15*time.Second))+4*time.Second
	hls := srv.HTTPURL("/api/v1/recordings/" + path + "/playback?format=hls&start=" + url.QueryEscape(from.Format(time.RFC3339Nano)) +
		"&duration=" + strconv.FormatFloat(length.Seconds(), 'f', 3, 64))
	res, err := http.Get(hls)
	if err != nil {
		t.Fatal(err)
	}
	playlist, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || strings.Count(string(playlist), "#EXT-X-DISCONTINUITY") != 1 {
		t.Errorf("HLS of a range across a hole: %s\n%s", res.Status, playlist)
	}
	_, pdt, _ := strings.Cut(string(playlist), "#EXT-X-PROGRAM-DATE-TIME:")
	pdt, _, _ = strings.Cut(pdt, "\n")
	if first, err := time.Parse(time.RFC3339Nano, pdt); err != nil || first.After(from) || from.Sub(first) > time.Second {
		t.Errorf("the first segment is dated %q (%v), want the keyframe at or before %v", pdt, err, from)
	}
	d := testenv.FFmpegDecode(ctx, t, hls, time.Minute, "-loglevel", "warning")
	// 5 s before the hole (and up to a GOP more, from the keyframe), 4 after it
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < 8*30 || d.Frames > 11*30 {
		t.Errorf("HLS across a hole: %d pictures (want 9 s of them), exit %v, warnings:\n%s\n%s", d.Frames, d.Err, strings.Join(w, "\n"), playlist)
	}

	res, err = http.Get(srv.HTTPURL("/api/v1/recordings/" + path + "/playback?start=2001-01-01T00:00:00Z&duration=60"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("a range without recordings: %s, want 404", res.Status)
	}
}
