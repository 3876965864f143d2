package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

func TestBadRequestsGetClearAnswers(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/ok")
	for _, tc := range []struct {
		path string
		want int
	}{
		// cleaned and redirected to /etc/passwd: the (waiting) page of stream etc/passwd,
		// never the file
		{"/live/ok/stream.mp4/../../../../etc/passwd", http.StatusOK},
		{"/live/..%2f..%2fetc%2fpasswd/stream.mp4", http.StatusNotFound},
		{"/live/" + strings.Repeat("a", 5000), http.StatusNotFound},
		{"/live/a%20b", http.StatusNotFound},
		{"/live/nobody/stream.mp4", http.StatusNotFound},
		{"/live/nobody/index.m3u8", http.StatusNotFound},
		{"/nothing", http.StatusNotFound},
		{"/live/ok", http.StatusOK},
		{"/live/ok/embed", http.StatusOK},
		{"/studio/cam", http.StatusOK}, // every app RTMP and RTSP accept has its pages
		{"/api/nothing", http.StatusNotFound},
		{"/static/nothing.js", http.StatusNotFound},
		{"/static/../etc/passwd", http.StatusOK},
	} {
		res, err := http.Get(srv.HTTPURL(tc.path))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want || strings.Contains(string(body), "root:") {
			t.Errorf("GET %.60s: %d, want %d\n%.200s", tc.path, res.StatusCode, tc.want, body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.HTTPURL("/api/v1/streams"), nil)
	req.Header.Set("X-Huge", strings.Repeat("h", 1<<20))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("1 MB header: %d, want 431", res.StatusCode)
	}
}

func TestStreamListAPIDescribesLiveStreams(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/api"))
	testenv.WaitLive(t, srv, "live/api", 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // a bitrate needs a second of media
	res, err := http.Get(srv.HTTPURL("/api/v1/streams"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got struct {
		Streams []struct {
			Path        string         `json:"path"`
			Publishing  bool           `json:"publishing"`
			BitrateKbps int            `json:"bitrate_kbps"`
			Viewers     map[string]int `json:"viewers"`
			Tracks      []struct {
				Kind, Codec   string
				Width, Height int
			} `json:"tracks"`
			URLs map[string]string `json:"urls"`
		} `json:"streams"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Streams) != 1 {
		t.Fatalf("streams = %+v, want live/api", got.Streams)
	}
	s := got.Streams[0]
	if s.Path != "live/api" || !s.Publishing || s.BitrateKbps < 500 || s.BitrateKbps > 2000 ||
		len(s.Tracks) != 2 || s.Tracks[0].Codec != "h264" || s.Tracks[0].Width != 1280 || s.Tracks[1].Codec != "aac" {
		t.Errorf("stream = %+v", s)
	}
	if s.URLs["rtmp"] != srv.URL("live/api") || s.URLs["rtsp"] != srv.RTSPURL("live/api") {
		t.Errorf("urls = %v, want %s and %s", s.URLs, srv.URL("live/api"), srv.RTSPURL("live/api"))
	}
}

// A browser connection that never reads must not hold the stream or the server: its
// fragments are skipped, and the other viewers go on.
func TestViewerThatNeverReadsDoesNotDisturbOthers(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/stuck")
	c, err := net.Dial("tcp", srv.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	_, _ = io.WriteString(c, "GET /live/stuck/stream.mp4 HTTP/1.1\r\nHost: x\r\n\r\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("stuck viewer: %q %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const window = 5 * time.Second
	d := testenv.FFmpegDecode(ctx, t, srv.HTTPURL("/live/stuck/stream.mp4"), window)
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(window) {
		t.Fatalf("other viewer: %d frames, exit %v, stderr:\n%s", d.Frames, d.Err, d.Stderr)
	}
}

// pprof, when on, answers under /debug/pprof/ next to the stream pages (their patterns
// overlap in one mux, which panicked at start); when off, nothing is there.
func TestPprofIsServedOnlyWhenOn(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("pprof=", on), func(t *testing.T) { checkPprof(t, on) })
	}
}

func checkPprof(t *testing.T, on bool) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.Pprof = on }})
	want := map[bool]int{true: http.StatusOK, false: http.StatusNotFound}[on]
	for path, code := range map[string]int{"/debug/pprof/": want, "/debug/pprof/cmdline": want, "/live/x/embed": http.StatusOK} {
		res, err := http.Get(srv.HTTPURL(path))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != code {
			t.Errorf("pprof %v: GET %s: %d, want %d", on, path, res.StatusCode, code)
		}
	}
}
