package link_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/link"
	"github.com/relaycast/relaycast/rtmp"
)

// links reads a server's /api/v1/links.
func links(t testing.TB, s *testenv.Server) []link.Status {
	t.Helper()
	res, err := http.Get(s.HTTPURL("/api/v1/links"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Links []link.Status }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Links
}

// linkState returns the state of path's link of kind, or "".
func linkState(t testing.TB, s *testenv.Server, kind, path string) link.Status {
	for _, l := range links(t, s) {
		if l.Kind == kind && l.Path == path {
			return l
		}
	}
	return link.Status{}
}

// waitFor polls cond every 50 ms until it holds or d passes, and says when it held.
func waitFor(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start), true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start), cond()
}

// isKeyframe says whether m is a video keyframe (not a sequence header).
func isKeyframe(m rtmp.Message) bool {
	return m.Kind == rtmp.VideoMsg && len(m.Body) > 1 && m.Body[0]>>4 == 1 && m.Body[1] == 1
}

// firstPicture plays url over RTMP and returns how long its first video keyframe took.
func firstPicture(ctx context.Context, t testing.TB, url string) time.Duration {
	t.Helper()
	start := time.Now()
	p, err := rtmp.Play(ctx, url, rtmp.PlayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_ = p.Conn().SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		m, err := p.Next()
		if err != nil {
			t.Fatalf("%s: no picture: %v", url, err)
		}
		if isKeyframe(m) {
			return time.Since(start)
		}
	}
}

// TestOnDemandRTSPSourceConnectsAtTheFirstViewerAndHangsUpAfterTheLast pulls a path from a
// second relaycast over RTSP: nothing connects before a viewer comes, the first viewer
// decodes at once and cleanly, and the pull hangs up its close-after time after the viewer
// left.
func TestOnDemandRTSPSourceConnectsAtTheFirstViewerAndHangsUpAfterTheLast(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	src := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, src, "live/cam")
	edge := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/cam": {Source: src.RTSPURL("live/cam")}}
	}})

	time.Sleep(time.Second)
	if n := src.Sessions.Viewers("live/cam"); n != 0 {
		t.Fatalf("the source has %d viewers before the edge has any", n)
	}
	if st := linkState(t, edge, "source", "live/cam"); st.State != link.StateIdle {
		t.Fatalf("before a viewer the source is %+v, want idle", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ttff := firstPicture(ctx, t, edge.URL("live/cam"))
	t.Logf("a cold pull's first viewer had its first picture after %v", ttff)
	if ttff > 2*time.Second {
		t.Errorf("the first viewer's first picture came after %v, want within 2 s", ttff)
	}
	d := testenv.FFmpegDecode(ctx, t, edge.URL("live/cam"), 4*time.Second)
	if d.Err != nil || d.Stderr != "" {
		t.Fatalf("rtmp decode of the pulled path: %v\n%s", d.Err, d.Stderr)
	}
	if d.Frames < testenv.MinFrames(4*time.Second) {
		t.Fatalf("decoded %d pictures of 4 s", d.Frames)
	}
	if st := linkState(t, edge, "source", "live/cam"); st.State != link.StateLive || st.Connects != 1 {
		t.Errorf("while watched the source is %+v, want live after one connect (two viewers, one after the other)", st)
	}
	if n := src.Sessions.Viewers("live/cam"); n != 1 {
		t.Errorf("the source has %d viewers, want the edge's one", n)
	}

	left := time.Now()
	after, ok := waitFor(20*time.Second, func() bool { return src.Sessions.Viewers("live/cam") == 0 })
	t.Logf("the pull hung up %v after the last viewer left", after)
	if !ok || after < link.DefaultCloseAfter-time.Second || after > link.DefaultCloseAfter+3*time.Second {
		t.Errorf("the pull hung up %v after the last viewer (ok %v), want about %v", time.Since(left), ok, link.DefaultCloseAfter)
	}
	if _, ok := waitFor(2*time.Second, func() bool { return linkState(t, edge, "source", "live/cam").State == link.StateIdle }); !ok {
		t.Errorf("after the hang-up the source is %+v, want idle", linkState(t, edge, "source", "live/cam"))
	}
}

// TestAlwaysOnRTSPSourceOverTCPAndAfterTheCameraRestarts pulls an always-on path from an
// RTSP "camera" that takes no RTP over UDP (a relaycast with no RTP port): the pull falls
// back to TCP and connects with no viewer there; the camera restarts, and the pull is back
// by itself, its viewers decoding cleanly after.
func TestAlwaysOnRTSPSourceOverTCPAndAfterTheCameraRestarts(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	camAddr := testenv.FreeTCPAddr(t)
	startCam := func() *testenv.Server {
		cam := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.RTSP, c.RTSPRTPPort = camAddr, 0 }})
		testenv.PublishDemo(t, cam, "cam/1")
		return cam
	}
	cam := startCam()
	off := false
	edge := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/cam": {Source: "rtsp://" + camAddr + "/cam/1", OnDemand: &off}}
	}})
	if _, ok := waitFor(15*time.Second, func() bool { return linkState(t, edge, "source", "live/cam").State == link.StateLive }); !ok {
		t.Fatalf("with no viewer, the always-on source is %+v, want live", linkState(t, edge, "source", "live/cam"))
	}
	if err := cam.Close(); err != nil {
		t.Fatal(err)
	}
	cam = startCam()
	after, ok := waitFor(20*time.Second, func() bool {
		st := linkState(t, edge, "source", "live/cam")
		return st.State == link.StateLive && st.Connects >= 2
	})
	if !ok {
		t.Fatalf("after the camera restarted the source is %+v, want live again", linkState(t, edge, "source", "live/cam"))
	}
	t.Logf("the source was back %v after the camera restarted", after)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := testenv.FFmpegDecode(ctx, t, edge.URL("live/cam"), 4*time.Second)
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(4*time.Second) {
		t.Fatalf("decoded %d pictures of 4 s of the source, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}
}
