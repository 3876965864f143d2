package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// getPlaylist fetches a DVR playlist, following the redirect to its absolute start, and
// returns it with the URL it came from.
func getPlaylist(t *testing.T, u string) (string, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", u, res.Status, b)
	}
	return string(b), res.Request.URL.String()
}

// A live path with a DVR window rewinds: dvr.m3u8?start=-15 plays from the picture of 15 s
// ago while the stream goes on (an EVENT playlist that grows), a start before the window
// begins at the window, and once the stream is over the window stays playable as stored
// video (ENDLIST), over HLS and, seeking, over RTMP and RTSP (vod/dvr/APP/NAME); ffmpeg
// decodes it with 0 warnings.
func TestDVRWindowRewindsALiveStream(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clip := testenv.SecondsClip(t, t.TempDir(), 30)
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.DVR = time.Minute }})
	const path = "live/dvr"
	published := time.Now()
	pub := testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "flv", srv.URL(path))
	testenv.WaitLive(t, srv, path, 10*time.Second)
	time.Sleep(20*time.Second - time.Since(published))

	playlist, at := getPlaylist(t, srv.HTTPURL("/"+path+"/dvr.m3u8?start=-15"))
	asked := testenv.StartOf(t, at)
	if !strings.Contains(playlist, "#EXT-X-PLAYLIST-TYPE:EVENT") || strings.Contains(playlist, "#EXT-X-ENDLIST") {
		t.Errorf("a live window's playlist:\n%s", playlist)
	}
	want := int(asked.Sub(published).Seconds())
	// ffmpeg 5.1 ignores EXT-X-START: a player of a playlist without an end starts near it
	// unless told to start at its beginning
	fromStart := []string{"-live_start_index", "0"}
	if got := firstSecond(ctx, t, at, fromStart...); got < want-2 || got > want {
		t.Errorf("start=-15 about 20 s into the stream: the first picture shows second %d, want %d (the keyframe at or before it)", got, want)
	}
	d := testenv.FFmpegDecode(ctx, t, at, 5*time.Second, append([]string{"-loglevel", "warning"}, fromStart...)...)
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(5*time.Second) {
		t.Errorf("live window: %d pictures, exit %v, warnings:\n%s", d.Frames, d.Err, strings.Join(w, "\n"))
	}

	_, at = getPlaylist(t, srv.HTTPURL("/"+path+"/dvr.m3u8?start=-600"))
	if start := testenv.StartOf(t, at); start.Sub(time.Now().Add(-time.Minute)).Abs() > 2*time.Second {
		t.Errorf("start=-600 with a 1 m window begins at %v, want about a minute ago", start)
	}

	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	whole := srv.HTTPURL("/" + path + "/dvr.m3u8?start=" + url.QueryEscape(published.Add(-time.Second).UTC().Format(time.RFC3339Nano)))
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if playlist, _ = getPlaylist(t, whole); strings.Contains(playlist, "#EXT-X-ENDLIST") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the window of an ended stream has no ENDLIST:\n%s", playlist)
		}
	}
	if got := firstSecond(ctx, t, whole); got != 0 {
		t.Errorf("the window from the publish's start shows second %d first, want 0", got)
	}
	d = testenv.FFmpegDecode(ctx, t, whole, time.Minute, "-loglevel", "warning")
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < 890 || d.Frames > 900 {
		t.Errorf("the ended window: %d of 900 pictures, exit %v, warnings:\n%s", d.Frames, d.Err, strings.Join(w, "\n"))
	}

	// RTMP and RTSP players seek in the window as in a stored file: it starts at the
	// publish (the window reaches back further), so its second 10 shows second 10
	for proto, u := range map[string]string{"rtsp": srv.RTSPURL("vod/dvr/" + path), "rtmp": srv.URL("vod/dvr/" + path)} {
		args := []string{"-ss", "10"}
		if proto == "rtsp" {
			args = append(args, "-rtsp_transport", "tcp")
		}
		if got := firstSecond(ctx, t, u, args...); got < 9 || got > 10 {
			t.Errorf("%s: the window from 10 s shows second %d first, want 10 (or the keyframe before)", proto, got)
		}
		d := testenv.FFmpegDecode(ctx, t, u, time.Minute, append([]string{"-loglevel", "warning"}, args...)...)
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < 590 || d.Frames > 630 {
			t.Errorf("%s: the window from 10 s: %d pictures (want 600), exit %v, warnings:\n%s", proto, d.Frames, d.Err, strings.Join(w, "\n"))
		}
	}
}
