package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// An encoder's three H.264 renditions in one enhanced RTMP multitrack connection (gortmplib,
// as OBS's multitrack streaming) become one HLS presentation: the LL-HLS multivariant
// playlist lists three variants, lowest first, with bandwidth, size, codecs and frame rate
// and the sound as one audio group, and ffmpeg decodes each with no warning at its size;
// the MPEG-TS variant lists three too. A legacy RTMP player gets the first rendition, and
// a rendition plays over RTSP by its own path. With record_renditions: all, each is
// recorded.
func TestMultitrackRenditionsBecomeHLSVariants(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Record, c.RecordRenditions = true, conf.RecordAllRenditions
	}})
	testenv.PublishLadder(t, srv, "live/abr")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	master := get(t, srv.HTTPURL("/live/abr/index.m3u8"))
	t.Logf("multivariant playlist:\n%s", master)
	variants := regexp.MustCompile(`#EXT-X-STREAM-INF:([^\n]*)\n([^\n]+)`).FindAllStringSubmatch(master, -1)
	if len(variants) != 3 {
		t.Fatalf("%d variants, want 3", len(variants))
	}
	wantSizes := []string{"640x360", "854x480", "1280x720"}
	for i, v := range variants {
		attrs, uri := v[1], v[2]
		for _, want := range []string{"RESOLUTION=" + wantSizes[i], `CODECS="avc1.`, `mp4a.40.2"`, "FRAME-RATE=30", `AUDIO="audio"`, "BANDWIDTH="} {
			if !strings.Contains(attrs, want) {
				t.Errorf("variant %d (%s): no %s", i, attrs, want)
			}
		}
		u := resolve(t, srv.HTTPURL("/live/abr/index.m3u8"), uri)
		// ffprobe lists an HLS stream once more in its program
		if got := slices.Compact(testenv.FFprobeStreams(ctx, t, u)); len(got) != 1 || got[0] != "h264 "+wantSizes[i] {
			t.Errorf("variant %d %s: ffprobe %v, want h264 %s", i, uri, got, wantSizes[i])
		}
		d := testenv.FFmpegDecode(ctx, t, u, 3*time.Second)
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(3*time.Second) {
			t.Errorf("variant %d: %d pictures, %v, warnings %q", i, d.Frames, d.Err, w)
		}
	}
	if !regexp.MustCompile(`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"[^\n]*URI="audio2_stream.m3u8`).MatchString(master) {
		t.Errorf("no shared audio group of the main stream's sound")
	}

	ts := get(t, srv.HTTPURL("/live/abr/ts.m3u8"))
	if n := strings.Count(ts, "#EXT-X-STREAM-INF"); n != 3 || !strings.Contains(ts, "../abr~2/main_stream.m3u8") {
		t.Errorf("MPEG-TS multivariant playlist with %d variants:\n%s", n, ts)
	}
	if got := testenv.FFprobeStreams(ctx, t, srv.URL("live/abr")); !sameSet(got, []string{"h264 1280x720", "aac"}) {
		t.Errorf("legacy RTMP player: %v", got)
	}
	if got := testenv.FFprobeStreams(ctx, t, srv.RTSPURL("live/abr~2"), "-rtsp_transport", "tcp"); !sameSet(got, []string{"h264 640x360", "aac"}) {
		t.Errorf("RTSP player of the lowest rendition: %v", got)
	}
	for i, p := range []string{"live/abr", "live/abr~1", "live/abr~2"} {
		spans, err := srv.Record.Spans(p)
		if err != nil || len(spans) == 0 {
			t.Errorf("%s: recordings %v, %v", p, spans, err)
			continue
		}
		file := srv.HTTPURL("/vod/" + spans[0].File)
		if got := testenv.FFprobeStreams(ctx, t, file); !sameSet(got, []string{"h264 " + wantSizes[2-i], "aac"}) {
			t.Errorf("%s recorded as %v", p, got)
		}
	}
}

func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b.ResolveReference(r).String()
}

func sameSet(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

// get follows redirects (the HLS session) and returns the body.
func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", u, resp.StatusCode, err, b)
	}
	return string(b)
}
