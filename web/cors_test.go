package web_test

import (
	"net/http"
	"testing"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// corsAnswer sends method to url from a page of origin (a preflight when asking is set)
// and returns the answer's status and CORS headers.
func corsAnswer(t *testing.T, method, url, origin, asking string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	if asking != "" {
		req.Header.Set("Access-Control-Request-Method", asking)
		req.Header.Set("Access-Control-Request-Headers", "range, authorization")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header
}

// By default pages of any origin may read the media, the WebRTC answers and the lists (one
// answer for all, which CDNs keep), preflights included; the control API only its own.
// Configured origins get their own answer, and others none.
func TestCORSLetsOtherSitesPlayButNotControl(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	for _, path := range []string{"/live/x/index.m3u8", "/live/x/stream.mp4", "/live/x/whep", "/api/v1/streams", "/vod/a.mp4", "/api/v1/media"} {
		if _, h := corsAnswer(t, http.MethodGet, srv.HTTPURL(path), "https://site.example", ""); h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q, want *", path, h.Get("Access-Control-Allow-Origin"))
		}
	}
	code, h := corsAnswer(t, http.MethodOptions, srv.HTTPURL("/live/x/index.m3u8"), "https://site.example", "GET")
	if code != http.StatusNoContent || h.Get("Access-Control-Allow-Headers") != "range, authorization" || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: %d %v", code, h)
	}
	for _, path := range []string{"/api/v1/sessions", "/api/v1/config"} {
		if _, h := corsAnswer(t, http.MethodGet, srv.HTTPURL(path), "https://site.example", ""); h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET %s from another site: Access-Control-Allow-Origin %q", path, h.Get("Access-Control-Allow-Origin"))
		}
	}

	srv = testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.AllowOrigin, c.APIAllowOrigin = conf.List{"https://site.example"}, conf.List{"https://admin.example"}
	}})
	for _, tc := range []struct{ path, origin, want string }{
		{"/live/x/index.m3u8", "https://site.example", "https://site.example"},
		{"/live/x/index.m3u8", "https://other.example", ""},
		{"/api/v1/sessions", "https://admin.example", "https://admin.example"},
		{"/api/v1/sessions", "https://site.example", ""},
	} {
		_, h := corsAnswer(t, http.MethodGet, srv.HTTPURL(tc.path), tc.origin, "")
		if h.Get("Access-Control-Allow-Origin") != tc.want || h.Get("Vary") != "Origin" {
			t.Errorf("GET %s from %s: Access-Control-Allow-Origin %q, Vary %q; want %q, Origin", tc.path, tc.origin,
				h.Get("Access-Control-Allow-Origin"), h.Get("Vary"), tc.want)
		}
	}
	if code, h := corsAnswer(t, http.MethodOptions, srv.HTTPURL("/api/v1/sessions"), "https://admin.example", "DELETE"); code != http.StatusNoContent ||
		h.Get("Access-Control-Allow-Origin") != "https://admin.example" {
		t.Errorf("the control API's preflight from its origin: %d %v", code, h)
	}
}
