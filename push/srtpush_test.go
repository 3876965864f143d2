package push_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testenv"
	"github.com/relaycast/relaycast/push"
)

// TestSRTPushResumesAfterItsTargetRestarts restreams a path as MPEG-TS over SRT to a second
// relaycast (streamid publish:live/show, as ffmpeg would send it): the target's viewers
// decode it without a warning, and when the target restarts the push is back within 5 s.
func TestSRTPushResumesAfterItsTargetRestarts(t *testing.T) {
	port, _ := testenv.FreeUDPPair(t)
	srtAddr := "127.0.0.1:" + strconv.Itoa(port)
	startTarget := func() *testenv.Server {
		return testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.SRT = srtAddr }})
	}
	target := startTarget()
	pushURL := "srt://" + srtAddr + "?streamid=publish:live/show"
	src := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/show": {Push: []string{pushURL}}}
	}})
	testenv.PublishDemo(t, src, "live/show")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	arrives := func(url string) (time.Duration, bool) {
		return waitFor(15*time.Second, func() bool {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			defer pcancel()
			return hasPicture(pctx, url)
		})
	}
	if after, ok := arrives(target.URL("live/show")); !ok {
		t.Fatalf("the SRT push did not reach its target in %v", after)
	}
	d := testenv.FFmpegDecode(ctx, t, target.URL("live/show"), 5*time.Second)
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(5*time.Second) {
		t.Fatalf("the SRT push's target decoded %d frames in 5 s, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}

	if err := target.Close(); err != nil {
		t.Fatal(err)
	}
	target = startTarget()
	after, ok := arrives(target.URL("live/show"))
	if !ok || after > 5*time.Second {
		t.Errorf("the SRT push resumed %v after its target restarted (ok %v), want within 5 s", after, ok)
	} else {
		t.Logf("the SRT push resumed %v after its target restarted", after)
	}
	for _, l := range links(t, src) {
		if l.Kind == "push" && (l.State != push.StateLive || l.Connects < 2 || l.Failures < 1) {
			t.Errorf("push %s: %+v, want live after a reconnect", l.URL, l)
		}
	}
}
