package web_test

import (
	"bytes"
	"image/jpeg"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// getSnapshot fetches a picture and returns its status and decoded size.
func getSnapshot(t *testing.T, url string) (int, int, int) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return 0, 0, 0
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, 0, 0
	}
	img, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("%s: %v, %s", url, err, res.Header.Get("Content-Type"))
		return res.StatusCode, 0, 0
	}
	return res.StatusCode, img.Bounds().Dx(), img.Bounds().Dy()
}

// A stream's picture comes from its latest keyframe, H.264 and AV1 alike, as it is or
// scaled; 300 requests at once, and requests for 3 s on end, cost one decode a second.
func TestSnapshotsCostOneDecodeASecond(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/cam"))
	testenv.PublishEnhancedClip(t, srv.URL("live/av1"), mediatest.SampleAV1())
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)
	testenv.WaitLive(t, srv, "live/av1", 10*time.Second)
	for _, tc := range []struct {
		url  string
		w, h int
	}{
		{"/live/cam/snapshot.jpg", 1280, 720},
		{"/live/cam/snapshot.jpg?width=320", 320, 180},
		{"/live/av1/snapshot.jpg?width=640", 640, 360},
	} {
		if code, w, h := getSnapshot(t, srv.HTTPURL(tc.url)); code != http.StatusOK || w != tc.w || h != tc.h {
			t.Errorf("%s: %d, %dx%d; want 200, %dx%d", tc.url, code, w, h, tc.w, tc.h)
		}
	}
	for url, want := range map[string]int{"/live/none/snapshot.jpg": http.StatusNotFound, "/live/cam/snapshot.jpg?width=5": http.StatusBadRequest} {
		if code, _, _ := getSnapshot(t, srv.HTTPURL(url)); code != want {
			t.Errorf("%s: %d, want %d", url, code, want)
		}
	}

	time.Sleep(1100 * time.Millisecond) // past the pictures made above
	before := srv.Snapshots.Decodes()
	start := time.Now()
	var wg sync.WaitGroup
	for range 300 {
		wg.Go(func() {
			if code, w, _ := getSnapshot(t, srv.HTTPURL("/live/cam/snapshot.jpg?width=320")); code != http.StatusOK || w != 320 {
				t.Errorf("a request of 300: %d, width %d", code, w)
			}
		})
	}
	wg.Wait()
	burst := srv.Snapshots.Decodes() - before
	if took := time.Since(start); float64(burst) > took.Seconds()+1 {
		t.Errorf("300 requests at once (over %v) cost %d decodes", took.Round(time.Millisecond), burst)
	}
	before, start = srv.Snapshots.Decodes(), time.Now()
	for time.Since(start) < 3*time.Second {
		getSnapshot(t, srv.HTTPURL("/live/cam/snapshot.jpg?width=320"))
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if n := srv.Snapshots.Decodes() - before; n < 2 || float64(n) > elapsed.Seconds()+1 {
		t.Errorf("%d decodes in %v of requests one after another, want one a second", n, elapsed.Round(time.Millisecond))
	}
}
