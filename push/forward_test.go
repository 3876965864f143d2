package push_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/rtmpclient"
	"github.com/relaycast/relaycast/internal/testenv"
	"github.com/relaycast/relaycast/push"
)

// TestEdgesForwardPublishesToTheirOrigin publishes to one edge of an origin that wants a
// key for the path: the edge asks the origin with the publisher's key, so a wrong key is
// refused at the edge and the right one goes through, to the origin and from there to a
// viewer of the other edge, who decodes it cleanly. The origin has the edge as its
// publisher and the edges keep nothing in common.
func TestEdgesForwardPublishesToTheirOrigin(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	origin := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.PublishKeys = map[string]string{"live/show": "K1"}
	}})
	edge := func(c *conf.Config) { c.Origin = conf.List{"rtmp://" + origin.RTMPAddr} }
	in, out := testenv.Start(t, testenv.Options{Conf: edge}), testenv.Start(t, testenv.Options{Conf: edge})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if p, err := rtmpclient.Publish(ctx, in.URL("live/show?key=wrong"), nil); !errors.Is(err, rtmpclient.ErrRefused) {
		if p != nil {
			p.Close()
		}
		t.Fatalf("publishing to the edge with a wrong key: %v, want refused", err)
	}
	testenv.PublishSample(t, in.URL("live/show?key=K1"))
	testenv.WaitLive(t, in, "live/show", 10*time.Second)
	testenv.WaitLive(t, origin, "live/show", 10*time.Second)
	d := testenv.FFmpegDecode(ctx, t, out.URL("live/show"), 4*time.Second)
	if d.Err != nil || d.Stderr != "" || d.Frames < testenv.MinFrames(4*time.Second) {
		t.Fatalf("the other edge's viewer decoded %d pictures of 4 s, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}
	var forward push.Status
	for _, l := range links(t, in) {
		if l.Kind == "forward" {
			forward = l
		}
	}
	if forward.State != push.StateLive || forward.Path != "live/show" {
		t.Errorf("the edge's forward: %+v, want live", forward)
	}
	if n := origin.Sessions.Viewers("live/show"); n != 1 {
		t.Errorf("the origin has %d viewers of the path, want the other edge's one", n)
	}
}
