package hls_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestLLHLSResponsesTellCachesWhatTheyMayKeep checks the headers a stock HTTP cache goes by:
// media immutable, blocking playlist requests cacheable, the live playlist revalidated with
// an ETag that answers 304 while it has not changed.
func TestLLHLSResponsesTellCachesWhatTheyMayKeep(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/cdn")
	_, multi := get(t, srv.HTTPURL("/live/cdn/index.m3u8"))
	var media string
	for line := range strings.Lines(multi) {
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "#") && strings.Contains(line, ".m3u8") {
			media = line
			break
		}
	}
	if media == "" {
		t.Fatalf("no media playlist in\n%s", multi)
	}
	base := srv.HTTPURL("/live/cdn/")
	time.Sleep(3 * time.Second) // a few segments
	res, playlist := get(t, base+media)
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "must-revalidate") || res.Header.Get("ETag") == "" {
		t.Errorf("live playlist: Cache-Control %q, ETag %q; want revalidation with an ETag", cc, res.Header.Get("ETag"))
	}
	var part, hint string
	sc := bufio.NewScanner(strings.NewReader(playlist))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#EXT-X-PART:") {
			part = attr(line, "URI")
		}
		if strings.HasPrefix(line, "#EXT-X-SERVER-CONTROL:") {
			hint = line
		}
	}
	if part == "" || !strings.Contains(hint, "CAN-BLOCK-RELOAD=YES") {
		t.Fatalf("no parts or no blocking reload in\n%s", playlist)
	}
	res, _ = get(t, base+part)
	if cc := res.Header.Get("Cache-Control"); res.StatusCode != http.StatusOK || !strings.Contains(cc, "immutable") || res.Header.Get("ETag") == "" {
		t.Errorf("part %s: %d, Cache-Control %q, ETag %q; want 200, immutable, an ETag", part, res.StatusCode, cc, res.Header.Get("ETag"))
	}
	res, body := get(t, base+media+"&_HLS_msn="+msn(playlist)) // media has the session's query
	if cc := res.Header.Get("Cache-Control"); res.StatusCode != http.StatusOK || !strings.Contains(cc, "max-age=10") {
		t.Errorf("blocking playlist request: %d, Cache-Control %q, want 200 cacheable for 10 s\n%s", res.StatusCode, cc, body)
	}

	notModified := 0
	for range 10 {
		first, body := get(t, base+media)
		tag := first.Header.Get("ETag")
		again, body2 := get(t, base+media, "If-None-Match", tag)
		switch {
		case again.StatusCode == http.StatusNotModified:
			notModified++
		case again.StatusCode != http.StatusOK || body2 == body || again.Header.Get("ETag") == tag:
			t.Fatalf("revalidation: %d, ETag %q then %q, same body %v", again.StatusCode, tag, again.Header.Get("ETag"), body2 == body)
		}
	}
	if notModified == 0 {
		t.Error("ten revalidations of the live playlist right after fetching it never got 304")
	}
}

// msn returns the media sequence number of the last segment a playlist lists.
func msn(playlist string) string {
	var first, n int
	for line := range strings.Lines(playlist) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "#EXT-X-MEDIA-SEQUENCE:"); ok {
			first, _ = strconv.Atoi(v)
		}
		if strings.HasPrefix(line, "#EXTINF:") {
			n++
		}
	}
	return strconv.Itoa(first + n - 1)
}

// attr returns the value of a quoted attribute of an HLS tag line.
func attr(line, name string) string {
	_, v, ok := strings.Cut(line, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}

// TestLLHLSPartTargetHoldsStill watches a live stream's media playlist for 10 s, longer than
// its window of segments: the part target duration never changes (iOS players fail when it
// does) and no part is longer, and every part but a segment's last and independent ones is
// at least 85 % of it, as the LL-HLS specification wants.
func TestLLHLSPartTargetHoldsStill(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/parts")
	_, multi := get(t, srv.HTTPURL("/live/parts/index.m3u8"))
	media := ""
	for line := range strings.Lines(multi) {
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "#") && strings.Contains(line, ".m3u8") {
			media = line
		}
	}
	if media == "" {
		t.Fatalf("no media playlist in\n%s", multi)
	}
	type part struct {
		d         float64
		mayBeLess bool // a segment's last part, or an independent one
	}
	targets := map[string]bool{}
	var parts []part
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		_, pl := get(t, srv.HTTPURL("/live/parts/"+media))
		for line := range strings.Lines(pl) {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "#EXT-X-PART-INF:PART-TARGET="); ok {
				targets[v] = true
			}
			if strings.HasPrefix(line, "#EXTINF:") && len(parts) > 0 {
				parts[len(parts)-1].mayBeLess = true
			}
			if v, ok := strings.CutPrefix(line, "#EXT-X-PART:DURATION="); ok {
				d, _ := strconv.ParseFloat(strings.Split(v, ",")[0], 64)
				parts = append(parts, part{d, strings.Contains(v, "INDEPENDENT=YES")})
			}
		}
		if len(parts) > 0 { // the newest part may be a segment's last: the next playlist says
			parts[len(parts)-1].mayBeLess = true
		}
	}
	if len(targets) != 1 || len(parts) == 0 {
		t.Fatalf("part targets %v over 10 s (%d parts seen), want one", targets, len(parts))
	}
	var target float64
	for v := range targets {
		target, _ = strconv.ParseFloat(v, 64)
	}
	for _, p := range parts {
		if p.d > target || p.d < 0.85*target && !p.mayBeLess {
			t.Fatalf("a part of %.5f s with a part target of %.5f s, want within 85 %% of it and no longer", p.d, target)
		}
	}
	t.Logf("part target %.3f s over 10 s, %d parts seen", target, len(parts))
}
