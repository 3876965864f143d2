package link_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/link"
	"github.com/relaycast/relaycast/rtmp"
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

	if p, err := rtmp.Publish(ctx, in.URL("live/show?key=wrong"), nil); !errors.Is(err, rtmp.ErrRefused) {
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
	var forward link.Status
	for _, l := range links(t, in) {
		if l.Kind == "forward" {
			forward = l
		}
	}
	if forward.State != link.StateLive || forward.Path != "live/show" {
		t.Errorf("the edge's forward: %+v, want live", forward)
	}
	if n := origin.Sessions.Viewers("live/show"); n != 1 {
		t.Errorf("the origin has %d viewers of the path, want the other edge's one", n)
	}
}

// TestAnEdgesForwardMovesToTheNextOriginWhenItsOriginDies forwards a publish from an edge
// to the first of two origins, then closes that origin: the forward is on the second within
// 5 s, and the edge's own viewer never notices.
func TestAnEdgesForwardMovesToTheNextOriginWhenItsOriginDies(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	first, second := testenv.Start(t, testenv.Options{}), testenv.Start(t, testenv.Options{})
	in := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Origin = conf.List{"rtmp://" + first.RTMPAddr, "rtmp://" + second.RTMPAddr}
	}})
	testenv.PublishSample(t, in.URL("live/show"))
	testenv.WaitLive(t, first, "live/show", 10*time.Second)
	start := time.Now()
	viewer := watch(t, in.URL("live/show"))
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	testenv.WaitLive(t, second, "live/show", 10*time.Second)
	t.Logf("the forward was on the second origin %v after the first closed", time.Since(closed))
	if after := time.Since(closed); after > 5*time.Second {
		t.Errorf("the forward reached the second origin %v after the first closed, want within 5 s", after)
	}
	time.Sleep(time.Second)
	n, gap, err := viewer.since(start)
	if err != nil || n == 0 || gap > 500*time.Millisecond {
		t.Errorf("the edge's viewer: %d pictures, longest wait %v, err %v; want no gap", n, gap, err)
	}
}
