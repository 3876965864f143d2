package link_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/link"
)

// TestHLSSources pulls a path from HLS, the way a server takes in a stream only published
// to a CDN: a relaycast's LL-HLS (fMP4 parts) and ffmpeg's live HLS (MPEG-TS segments)
// served by a plain file server. The path's RTMP viewers decode it without a warning.
func TestHLSSources(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	t.Run("relaycast LL-HLS", func(t *testing.T) {
		up := testenv.Start(t, testenv.Options{})
		testenv.PublishDemo(t, up, "live/up")
		waitHLS(t, up.HTTPURL("/live/up/index.m3u8"))
		checkHLSSource(t, up.HTTPURL("/live/up/index.m3u8"))
	})
	t.Run("ffmpeg MPEG-TS HLS", func(t *testing.T) {
		testenv.CheckLeaks(t) // first: its check runs after ffmpeg is stopped
		dir := t.TempDir()
		testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", testenv.Sample(),
			"-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "6", "-hls_flags", "delete_segments",
			filepath.Join(dir, "index.m3u8"))
		files := httptest.NewServer(http.FileServer(http.Dir(dir)))
		t.Cleanup(files.Close)
		if _, ok := waitFor(15*time.Second, func() bool {
			_, err := os.Stat(filepath.Join(dir, "index.m3u8"))
			return err == nil
		}); !ok {
			t.Fatal("ffmpeg wrote no playlist")
		}
		time.Sleep(3 * time.Second) // the three segments a client starts behind live
		checkHLSSource(t, files.URL+"/index.m3u8")
	})
}

func checkHLSSource(t *testing.T, source string) {
	edge := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/cam": {Source: source}}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ttff := firstPicture(ctx, t, edge.URL("live/cam"))
	t.Logf("the first viewer of the HLS source had its first picture after %v", ttff)
	d := testenv.FFmpegDecode(ctx, t, edge.URL("live/cam"), 5*time.Second)
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(5*time.Second) {
		t.Fatalf("decoded %d pictures of 5 s of the HLS source, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}
	if got := testenv.FFprobeStreams(ctx, t, edge.URL("live/cam")); len(got) != 2 || got[0] != "h264 1280x720" || got[1] != "aac" {
		t.Errorf("ffprobe of the HLS source: %q, want h264 1280x720 and aac", got)
	}
	if st := linkState(t, edge, "source", "live/cam"); st.State != link.StateLive {
		t.Errorf("the HLS source is %+v, want live", st)
	}
}

// waitHLS waits until a multivariant playlist answers 200.
func waitHLS(t *testing.T, url string) {
	t.Helper()
	if _, ok := waitFor(15*time.Second, func() bool {
		res, err := http.Get(url)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}); !ok {
		t.Fatalf("%s never answered", url)
	}
	time.Sleep(3 * time.Second) // the three segments a client starts behind live
}
