package vod_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/vod"
)

func do(t *testing.T, method, url string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

type listing struct {
	Media []vod.Entry `json:"media"`
}

func list(t *testing.T, srv *testenv.Server) listing {
	t.Helper()
	code, body := do(t, http.MethodGet, srv.HTTPURL("/api/v1/media"), nil)
	var l listing
	if err := json.Unmarshal([]byte(body), &l); code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/v1/media: %d %v\n%s", code, err, body)
	}
	return l
}

// files returns every file under dir, hidden ones included.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

// An MP4 uploaded with curl's PUT is listed with its duration and codecs, plays over
// progressive HTTP in ffmpeg without a warning, answers byte ranges, and is deleted.
func TestUploadListPlayRangeDelete(t *testing.T) {
	dir := t.TempDir()
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir }})
	clip, err := os.ReadFile(testenv.Sample())
	if err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, http.MethodPut, srv.HTTPURL("/api/v1/media/shows/clip.mp4"), clip); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, body)
	}
	l := list(t, srv)
	if len(l.Media) != 1 {
		t.Fatalf("listed %+v, want the one upload", l.Media)
	}
	e := l.Media[0]
	if e.Name != "shows/clip" || e.File != "shows/clip.mp4" || e.Size != int64(len(clip)) || e.Duration < 5.5 || e.Duration > 6.5 ||
		len(e.Tracks) != 2 || e.Tracks[0].Width != 1280 || e.Tracks[0].Height != 720 || e.Tracks[1].Codec != "aac" {
		t.Fatalf("listed %+v", e)
	}

	url := srv.HTTPURL("/vod/shows/clip.mp4")
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", "bytes=1000-1999")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(part, clip[1000:2000]) {
		t.Fatalf("range request: %d with %d bytes, want 206 with bytes 1000-1999", res.StatusCode, len(part))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got := testenv.FFprobeStreams(ctx, t, url); !slices.Equal(got, []string{"h264 1280x720", "aac"}) {
		t.Fatalf("ffprobe: %q", got)
	}
	d := testenv.FFmpegDecode(ctx, t, url, 10*time.Second)
	if d.Err != nil || d.Stderr != "" || d.Frames < 175 {
		t.Fatalf("ffmpeg over progressive HTTP: %d frames, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}

	if code, body := do(t, http.MethodDelete, srv.HTTPURL("/api/v1/media/shows/clip.mp4"), nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _ := do(t, http.MethodGet, url, nil); code != http.StatusNotFound {
		t.Fatalf("GET after delete: %d, want 404", code)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Fatalf("left behind: %q", f)
	}
}

// A file cut short, a body that ends early and a file that is no MP4 are refused with the
// reason, and none leaves a file behind.
func TestBadUploadsAreRefusedAndLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir; c.MaxUpload = 1 << 20 }})
	clip, err := os.ReadFile(testenv.Sample())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		code int
		says string
	}{
		{"cut.mp4", clip[:len(clip)/2], http.StatusUnprocessableEntity, "cut short"},
		{"text.mp4", []byte("hello, this is not a video"), http.StatusUnprocessableEntity, "not an MP4"},
		{"huge.mp4", make([]byte, 2<<20), http.StatusRequestEntityTooLarge, "limit"},
	} {
		code, body := do(t, http.MethodPut, srv.HTTPURL("/api/v1/media/"+tc.name), tc.body)
		if code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("PUT %s: %d %q, want %d saying %q", tc.name, code, body, tc.code, tc.says)
		}
	}

	// A client that promises the whole file and hangs up halfway.
	c, err := net.Dial("tcp", srv.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "PUT /api/v1/media/gone.mp4 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(clip))
	_, _ = c.Write(clip[:len(clip)/3])
	c.Close()
	srv.WaitLog(t, 5*time.Second, "upload refused", "file=gone.mp4")
	if f := files(t, dir); len(f) != 0 {
		t.Fatalf("left behind: %q", f)
	}
	if l := list(t, srv); len(l.Media) != 0 {
		t.Fatalf("listed %+v", l.Media)
	}
}

// Names are checked before any file system call, and a symlink cannot lead out of the
// media directory.
func TestNamesAndSymlinksStayInsideTheMediaDirectory(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	clip, err := os.ReadFile(testenv.Sample())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.mp4"), clip, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.mp4"), filepath.Join(dir, "link.mp4")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir }})
	for _, path := range []string{"/vod/link.mp4", "/vod/linkdir/secret.mp4", "/vod/%2e%2e/secret.mp4",
		"/vod/a%00b.mp4", "/vod/.hidden.mp4", "/vod/clip", "/vod/" + strings.Repeat("a/", 9) + "x.mp4"} {
		code, body := do(t, http.MethodGet, srv.HTTPURL(path), nil)
		if code == http.StatusOK || code == http.StatusPartialContent || strings.Contains(body, "ftyp") {
			t.Errorf("GET %s: %d, want a refusal", path, code)
		}
	}
	for _, path := range []string{"/api/v1/media/linkdir/new.mp4", "/api/v1/media/%2e%2e/new.mp4", "/api/v1/media/x.txt"} {
		if code, _ := do(t, http.MethodPut, srv.HTTPURL(path), clip); code == http.StatusCreated {
			t.Errorf("PUT %s: created", path)
		}
	}
	if f := files(t, outside); !slices.Equal(f, []string{"secret.mp4"}) {
		t.Errorf("outside the media directory: %q", f)
	}
	if l := list(t, srv); len(l.Media) != 0 {
		t.Errorf("listed %+v, want nothing (symlinks are not followed)", l.Media)
	}
}

// Uploading takes what publishing takes: a path's own key, here.
func TestUploadNeedsThePublishKey(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.MediaDir = t.TempDir()
		c.PublishKeys = map[string]string{"vod/clip": "k"}
	}})
	clip, err := os.ReadFile(testenv.Sample())
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := do(t, http.MethodPut, srv.HTTPURL("/api/v1/media/clip.mp4"), clip); code != http.StatusUnauthorized {
		t.Fatalf("upload without the key: %d, want 401", code)
	}
	if code, body := do(t, http.MethodPut, srv.HTTPURL("/api/v1/media/clip.mp4?key=k"), clip); code != http.StatusCreated {
		t.Fatalf("upload with the key: %d %s", code, body)
	}
}

// playClip opens the sample as clip in a library of its own and plays it from start to one
// viewer; everything is closed at the test's end.
func playClip(t *testing.T, start time.Duration) (*vod.Player, *relay.Reader, relay.Control) {
	t.Helper()
	lib, err := vod.Open(mediaDirWithClip(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lib.Close() })
	p := vod.NewPlayer(lib)
	t.Cleanup(p.Close)
	r, ctl, err := p.Open("clip", start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		ctl.Close()
	})
	return p, r, ctl
}

// mediaDirWithClip returns a media directory holding the sample as clip.mp4, copied in by
// hand.
func mediaDirWithClip(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	clip, err := os.ReadFile(testenv.Sample())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "clip.mp4"), clip, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidateName(t *testing.T) {
	for name, ok := range map[string]bool{
		"clip": true, "recordings/live/x/2026-12-01_15-04-05": true, "a.b": true,
		"": false, "..": false, "a/../b": false, ".hidden": false, "/abs": false, "a//b": false,
		"a b": false, "a\x00b": false, "é": false, strings.Repeat("a/", 8) + "b": false, strings.Repeat("a", 129): false,
	} {
		if err := vod.ValidateName(name); (err == nil) != ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// A stored file plays over RTMP like a live stream: the same codecs, every frame decoded
// without a warning, paced in real time (six seconds of file take about five, the first one
// sent at once as the player's buffer), ending at the file's end.
func TestStoredFilePlaysOverRTMPInRealTime(t *testing.T) {
	dir := mediaDirWithClip(t)
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir }})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got := testenv.FFprobeStreams(ctx, t, srv.URL("vod/clip")); !slices.Equal(got, []string{"h264 1280x720", "aac"}) {
		t.Fatalf("ffprobe over RTMP: %q", got)
	}
	d := testenv.FFmpegDecode(ctx, t, srv.URL("vod/clip"), 20*time.Second)
	if d.Err != nil || d.Stderr != "" || d.Frames < 178 {
		t.Fatalf("ffmpeg over RTMP: %d frames, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}
	if d.Elapsed < 4500*time.Millisecond || d.Elapsed > 9*time.Second {
		t.Errorf("6 s of file played in %v, want real time less the 1 s lead", d.Elapsed)
	}
	if code, _ := do(t, http.MethodGet, srv.HTTPURL("/api/v1/streams"), nil); code != http.StatusOK {
		t.Fatal(code)
	}
}

// Playing from a position starts at the keyframe at or before it and runs to the end.
func TestPlayerStartsAtTheKeyframeBeforeThePosition(t *testing.T) {
	p, r, ctl := playClip(t, 3500*time.Millisecond)
	if ctl.Start() != 3*time.Second || ctl.Duration() < 6*time.Second {
		t.Errorf("control: start %v, duration %v; want the keyframe at 3s of a 6s file", ctl.Start(), ctl.Duration())
	}
	time.Sleep(700 * time.Millisecond) // a reader that starts reading late still gets the file from 3 s on
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var frames []*relay.Frame
	for {
		f, err := r.Next(ctx)
		if err != nil {
			if !errors.Is(err, relay.ErrEnded) {
				t.Fatal(err)
			}
			break
		}
		frames = append(frames, f)
	}
	// The 1 s GOPs of the clip: from the keyframe at 3 s, 3 s of video and audio.
	var video int
	for _, f := range frames {
		if f.Track.Codec.IsVideo() {
			video++
		}
	}
	if len(frames) == 0 || !frames[0].Key || !frames[0].Track.Codec.IsVideo() || video < 89 || video > 91 {
		t.Fatalf("%d frames, %d video, first at %v (key %v)", len(frames), video, frames[0].DTS, frames[0].Key)
	}
	if _, err := ctl.Seek(time.Second); !errors.Is(err, relay.ErrEnded) {
		t.Errorf("a seek after the end: %v, want relay.ErrEnded", err)
	}
	if _, _, err := p.Open("nothing", 0); !errors.Is(err, vod.ErrNotFound) {
		t.Errorf("playing a missing file: %v", err)
	}
}

// HLS VOD: ffprobe reads the file's duration and codecs from the playlist, ffmpeg decodes
// every frame without a warning (none across the segments' joins), and ffmpeg -ss starts at
// the keyframe before the position.
func TestStoredFilePlaysOverHLS(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = mediaDirWithClip(t) }})
	url := srv.HTTPURL("/vod/clip/index.m3u8")
	code, body := do(t, http.MethodGet, url, nil)
	if code != http.StatusOK || !strings.Contains(body, "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.Contains(body, "#EXT-X-ENDLIST") {
		t.Fatalf("playlist: %d\n%s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// ffprobe lists an HLS stream's tracks twice: in its program and by themselves.
	if got := slices.Compact(testenv.FFprobeStreams(ctx, t, url)[:2]); !slices.Equal(got, []string{"h264 1280x720", "aac"}) {
		t.Fatalf("ffprobe over HLS: %q", got)
	}
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url).Output()
	if d, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err != nil || d < 5.5 || d > 6.5 {
		t.Errorf("duration over HLS: %q %v, want 6 s ± 0.5", out, err)
	}
	d := testenv.FFmpegDecode(ctx, t, url, 20*time.Second)
	if d.Err != nil || d.Stderr != "" || d.Frames < 178 {
		t.Fatalf("ffmpeg over HLS: %d frames, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}
	// As over RTSP: the 2.5 s after 3.5 s are 75 pictures.
	d = testenv.FFmpegDecode(ctx, t, url, 20*time.Second, "-loglevel", "warning", "-ss", "3.5")
	if d.Err != nil || d.Stderr != "" || d.Frames < 72 || d.Frames > 80 {
		t.Fatalf("ffmpeg -ss 3.5 over HLS: %d frames, want about 75; exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}
	if code, _ := do(t, http.MethodGet, srv.HTTPURL("/vod/clip/seg99.ts"), nil); code != http.StatusNotFound {
		t.Errorf("a segment past the end: %d, want 404", code)
	}
}

// HLS VOD responses carry what a cache revalidates with: an ETag of the file's version, a
// 304 for it, and a new ETag once the file under the name is replaced.
func TestStoredHLSCarriesValidators(t *testing.T) {
	dir := mediaDirWithClip(t)
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir }})
	get := func(url, etag string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("ETag"), res.Header.Get("Cache-Control") + "|" + strconv.Itoa(len(b))
	}
	var tags []string
	for _, file := range []string{"index.m3u8", "seg0.ts"} {
		url := srv.HTTPURL("/vod/clip/" + file)
		code, tag, cc := get(url, "")
		if code != http.StatusOK || tag == "" || !strings.Contains(cc, "max-age=60") {
			t.Fatalf("%s: %d, ETag %q, Cache-Control|length %q; want 200 with an ETag, cacheable a minute", file, code, tag, cc)
		}
		if code, _, _ := get(url, tag); code != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %s: %d, want 304", file, tag, code)
		}
		tags = append(tags, tag)
	}
	// Replaced: same name, another version (a newer modification time).
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "clip.mp4"), later, later); err != nil {
		t.Fatal(err)
	}
	for i, file := range []string{"index.m3u8", "seg0.ts"} {
		if code, tag, _ := get(srv.HTTPURL("/vod/clip/"+file), tags[i]); code != http.StatusOK || tag == tags[i] {
			t.Errorf("%s of the replaced file with the old ETag: %d, ETag %q; want 200 and a new ETag", file, code, tag)
		}
	}
}

// A viewer that stops reading for longer than its stream's MaxLag (a stalled network, a
// starved player) gets every frame of a file once it reads again: the file waits for it
// instead of skipping ahead, as a live stream would.
func TestASlowViewerOfAFileGetsEveryFrame(t *testing.T) {
	_, r, _ := playClip(t, 0)
	time.Sleep(3 * time.Second) // twice MaxLag
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	video := 0
	for {
		f, err := r.Next(ctx)
		if errors.Is(err, relay.ErrEnded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Track.Codec.IsVideo() {
			video++
		}
	}
	if video != 180 || r.Dropped() != 0 {
		t.Fatalf("%d of 180 pictures, %d frames dropped", video, r.Dropped())
	}
}

// A viewer's control seeks: what was sent ahead of the old position is dropped, the next
// frame is the keyframe at or before the new one, and a pause holds the file until a seek.
func TestAControlSeeksToTheKeyframeBeforeAndPauses(t *testing.T) {
	_, r, ctl := playClip(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if f, err := r.Next(ctx); err != nil || !f.Key || f.DTS != 0 {
		t.Fatalf("first frame: %+v, %v", f, err)
	}
	at, err := ctl.Seek(4500 * time.Millisecond)
	if err != nil || at != 4*time.Second {
		t.Fatalf("seek to 4.5s: keyframe %v, %v; want 4s", at, err)
	}
	f, err := r.Next(ctx)
	if err != nil || !f.Key || !f.Track.Codec.IsVideo() {
		t.Fatalf("first frame after the seek: %+v, %v; want a video keyframe", f, err)
	}
	if err := ctl.Pause(); err != nil {
		t.Fatal(err)
	}
	for { // what was sent ahead before the pause
		if f, err := r.Poll(); f == nil || err != nil {
			break
		}
	}
	time.Sleep(700 * time.Millisecond)
	if f, err := r.Poll(); f != nil || err != nil {
		t.Fatalf("a paused file sent %+v, %v", f, err)
	}
}
