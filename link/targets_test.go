package link_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/link"
)

// TestSRTAndRTSPPushesResumeAfterTheirTargetRestarts restreams a path to a second
// relaycast as MPEG-TS over SRT (streamid publish:live/show, as ffmpeg would send it) and
// over RTSP (ANNOUNCE/RECORD, RTP over TCP): the target's viewers decode it without a
// warning, and when the target restarts the push is back within 5 s.
func TestSRTAndRTSPPushesResumeAfterTheirTargetRestarts(t *testing.T) {
	for _, scheme := range []string{"srt", "rtsp"} {
		t.Run(scheme, func(t *testing.T) {
			var addr, pushURL string
			if scheme == "srt" {
				port, _ := testenv.FreeUDPPair(t)
				addr = "127.0.0.1:" + strconv.Itoa(port)
				pushURL = "srt://" + addr + "?streamid=publish:live/show"
			} else {
				addr = testenv.FreeTCPAddr(t)
				pushURL = "rtsp://" + addr + "/live/show"
			}
			startTarget := func() *testenv.Server {
				return testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
					if scheme == "srt" {
						c.SRT = addr
					} else {
						c.RTSP = addr
					}
				}})
			}
			checkPushResumes(t, pushURL, startTarget)
		})
	}
}

func checkPushResumes(t *testing.T, pushURL string, startTarget func() *testenv.Server) {
	target := startTarget()
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
		t.Fatalf("the push did not reach its target in %v", after)
	}
	d := testenv.FFmpegDecode(ctx, t, target.URL("live/show"), 5*time.Second)
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(5*time.Second) {
		t.Fatalf("the push's target decoded %d frames in 5 s, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}

	if err := target.Close(); err != nil {
		t.Fatal(err)
	}
	target = startTarget()
	after, ok := arrives(target.URL("live/show"))
	if !ok || after > 5*time.Second {
		t.Errorf("the push resumed %v after its target restarted (ok %v), want within 5 s", after, ok)
	} else {
		t.Logf("the push resumed %v after its target restarted", after)
	}
	for _, l := range links(t, src) {
		if l.Kind == "push" && (l.State != link.StateLive || l.Connects < 2 || l.Failures < 1) {
			t.Errorf("push %s: %+v, want live after a reconnect", l.URL, l)
		}
	}
}

// TestRTSPPushToFFmpeg records a path to ffmpeg listening as an RTSP server, a peer that is
// not relaycast: it decodes five seconds of every frame without a warning.
func TestRTSPPushToFFmpeg(t *testing.T) {
	addr := testenv.FreeTCPAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	decoded := make(chan testenv.Decode, 1)
	go func() {
		decoded <- testenv.FFmpegDecode(ctx, t, "rtsp://"+addr+"/live/show", 5*time.Second, "-rtsp_flags", "listen")
	}()
	src := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/show": {Push: []string{"rtsp://" + addr + "/live/show"}}}
	}})
	testenv.PublishDemo(t, src, "live/show")
	d := <-decoded
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(5*time.Second) {
		t.Fatalf("ffmpeg decoded %d frames of the RTSP push in 5 s, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}
	t.Logf("ffmpeg decoded %d frames of the RTSP push", d.Frames)
}

// TestSRTPushWithAPassphrase pushes to an SRT listener that wants encryption: with the
// passphrase in the URL the target has the stream; with a wrong one the link says why it
// cannot get through, and the API shows neither passphrase.
func TestSRTPushWithAPassphrase(t *testing.T) {
	target := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.SRTPassphrase = "right-secret-1" }})
	good := target.SRTURL("publish:live/good") + "&passphrase=right-secret-1"
	bad := target.SRTURL("publish:live/bad") + "&passphrase=wrong-secret-1"
	src := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/show": {Push: []string{good, bad}}}
	}})
	testenv.PublishDemo(t, src, "live/show")
	testenv.WaitLive(t, target, "live/good", 15*time.Second)
	var failed link.Status
	if _, ok := waitFor(15*time.Second, func() bool {
		for _, l := range links(t, src) {
			if strings.Contains(l.URL, "live/bad") && l.Failures > 0 {
				failed = l
				return true
			}
		}
		return false
	}); !ok {
		t.Fatalf("the push with a wrong passphrase never failed: %+v", links(t, src))
	}
	t.Logf("with a wrong passphrase: %s", failed.Error)
	// Backoff: attempts 0.25, 0.5, 1 and 2 s apart, not one every quarter second.
	time.Sleep(4 * time.Second)
	for _, l := range links(t, src) {
		if strings.Contains(l.URL, "live/bad") && (l.Failures-failed.Failures > 5 || l.Failures-failed.Failures < 2) {
			t.Errorf("the refused push tried %d more times in 4 s, want 2 to 5 (exponential backoff)", l.Failures-failed.Failures)
		}
	}
	for _, l := range links(t, src) {
		if strings.Contains(l.URL, "secret") || strings.Contains(l.Error, "secret") {
			t.Errorf("the API shows a passphrase: %+v", l)
		}
	}
	if _, err := target.Relays.Lookup("live/bad"); err == nil {
		t.Error("the push with a wrong passphrase got its stream through")
	}
}
