package link_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/link"
	"github.com/relaycast/relaycast/rtmp"
)

// watcher is an RTMP player that notes when each picture comes.
type watcher struct {
	mu    sync.Mutex
	times []time.Time
	err   error
	p     *rtmp.Player
	done  chan struct{}
}

func watch(t testing.TB, url string) *watcher {
	t.Helper()
	p, err := rtmp.Play(context.Background(), url, rtmp.PlayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{p: p, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			_ = p.Conn().SetReadDeadline(time.Now().Add(30 * time.Second))
			m, err := p.Next()
			w.mu.Lock()
			if err != nil {
				w.err = err
				w.mu.Unlock()
				return
			}
			if m.Kind == rtmp.VideoMsg {
				w.times = append(w.times, time.Now())
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *watcher) close() {
	w.p.Close()
	<-w.done
}

// since returns the pictures seen after from, the longest wait between two of them from
// then on (or from from to the first), and the error that ended the player, if any.
func (w *watcher) since(from time.Time) (n int, gap time.Duration, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := from
	for _, at := range w.times {
		if at.Before(from) {
			continue
		}
		n++
		gap = max(gap, at.Sub(last))
		last = at
	}
	return n, gap, w.err
}

// TestPushRelaysResumeAfterTheirTargetsRestart restreams one path to nginx-rtmp and to a
// second relaycast, and restarts each target mid-stream: each push is back within 5 s, and
// the path's own viewer never notices.
func TestPushRelaysResumeAfterTheirTargetsRestart(t *testing.T) {
	nginx := testenv.StartNginxRTMP(t)
	targetAddr := testenv.FreeTCPAddr(t)
	startTarget := func() *testenv.Server {
		return testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.RTMP = targetAddr }})
	}
	target := startTarget()
	toNginx, toTarget := "rtmp://"+nginx.RTMPAddr+"/live/show", "rtmp://"+targetAddr+"/live/show"
	src := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/show": {Push: []string{toNginx, toTarget}}}
	}})
	testenv.PublishDemo(t, src, "live/show")
	start := time.Now()
	viewer := watch(t, src.URL("live/show"))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	arrives := func(what, url string) time.Duration {
		began := time.Now()
		after, ok := waitFor(15*time.Second, func() bool {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			defer pcancel()
			return hasPicture(pctx, url)
		})
		if !ok {
			t.Fatalf("%s: no picture %v after the push began or its target restarted", what, time.Since(began))
		}
		return after
	}
	t.Logf("nginx-rtmp has the push after %v, relaycast after %v", arrives("nginx", toNginx), arrives("relaycast", toTarget))

	time.Sleep(2 * time.Second) // mid-stream
	nginx.Kill()
	nginx.Start(t)
	if after := arrives("nginx after its restart", toNginx); after > 5*time.Second {
		t.Errorf("the push to nginx-rtmp resumed %v after nginx restarted, want within 5 s", after)
	} else {
		t.Logf("the push to nginx-rtmp resumed %v after its restart", after)
	}

	time.Sleep(2 * time.Second)
	if err := target.Close(); err != nil {
		t.Fatal(err)
	}
	target = startTarget()
	if after := arrives("relaycast after its restart", target.URL("live/show")); after > 5*time.Second {
		t.Errorf("the push to relaycast resumed %v after it restarted, want within 5 s", after)
	} else {
		t.Logf("the push to relaycast resumed %v after its restart", after)
	}

	n, gap, err := viewer.since(start)
	t.Logf("the source's viewer: %d pictures, longest wait %v", n, gap)
	if err != nil || gap > 500*time.Millisecond {
		t.Errorf("the source's own viewer noticed the targets' restarts: longest wait %v, err %v", gap, err)
	}
	for _, url := range []string{toNginx, toTarget} {
		var st link.Status
		for _, l := range links(t, src) {
			if l.Kind == "push" && l.URL == url {
				st = l
			}
		}
		if st.State != link.StateLive || st.Connects < 2 || st.Failures < 1 {
			t.Errorf("push to %s: %+v, want live after a reconnect", url, st)
		}
		labels := `{kind="push",path="live/show",url="` + url + `"}`
		up, connects := metric(t, src, "relaycast_link_up"+labels), metric(t, src, "relaycast_link_connects_total"+labels)
		if up != 1 || connects < 2 {
			t.Errorf("metrics of the push to %s: up %v, connects %v; want 1 and at least 2", url, up, connects)
		}
	}
}

// metric returns the value of one series in the server's /metrics, -1 when it has none.
func metric(t *testing.T, s *testenv.Server, series string) float64 {
	t.Helper()
	res, err := http.Get(s.HTTPURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// hasPicture reports whether url plays a keyframe before ctx ends.
func hasPicture(ctx context.Context, url string) bool {
	p, err := rtmp.Play(ctx, url, rtmp.PlayOptions{})
	if err != nil {
		return false
	}
	defer p.Close()
	stop := context.AfterFunc(ctx, p.Close)
	defer stop()
	for {
		m, err := p.Next()
		if err != nil {
			return false
		}
		if isKeyframe(m) {
			return true
		}
	}
}

// TestEdgesPullEachPathOnceAndFailOverToTheNextOrigin runs two origins that both get a
// stream from its ingest server's push relays, and two edges that know both origins: each
// edge pulls the path once however many viewers it has, and when the first origin dies the
// edges switch to the second within the grace window, their viewers still connected.
func TestEdgesPullEachPathOnceAndFailOverToTheNextOrigin(t *testing.T) {
	origin1 := testenv.Start(t, testenv.Options{})
	origin2 := testenv.Start(t, testenv.Options{})
	ingest := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/show": {Push: []string{origin1.URL("live/show"), origin2.URL("live/show")}}}
	}})
	testenv.PublishDemo(t, ingest, "live/show")
	testenv.WaitLive(t, origin1, "live/show", 10*time.Second)
	testenv.WaitLive(t, origin2, "live/show", 10*time.Second)
	origins := conf.List{"rtmp://" + origin1.RTMPAddr, "rtmp://" + origin2.RTMPAddr}
	edges := []*testenv.Server{
		testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.Origin = origins }}),
		testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.Origin = origins }}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cold := firstPicture(ctx, t, edges[0].URL("live/show"))
	warm := firstPicture(ctx, t, edges[0].URL("live/show"))
	t.Logf("first picture via an edge: %v cold, %v once the edge has the stream", cold, warm)
	if cold > time.Second || warm > 500*time.Millisecond {
		t.Errorf("first picture via an edge after %v cold and %v warm, want within 1 s and 50 ms (500 ms here, for loaded machines)", cold, warm)
	}
	if _, err := edges[1].Relays.Lookup("live/unknown"); err == nil {
		t.Fatal("an edge has a stream nobody asked for")
	}
	if ok := hasPicture(ctx, edges[1].URL("live/nowhere")); ok {
		t.Fatal("an edge played a path no origin has")
	}

	var viewers []*watcher
	for i := range 20 {
		viewers = append(viewers, watch(t, edges[i%2].URL("live/show")))
	}
	if _, ok := waitFor(5*time.Second, func() bool { return origin1.Sessions.Viewers("live/show") == 2 }); !ok {
		t.Fatalf("the first origin has %d viewers of live/show, want one per edge", origin1.Sessions.Viewers("live/show"))
	}
	if n := origin2.Sessions.Viewers("live/show"); n != 0 {
		t.Fatalf("the second origin has %d viewers while the first is up", n)
	}

	time.Sleep(time.Second)
	killed := time.Now()
	if err := origin1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitFor(5*time.Second, func() bool { return origin2.Sessions.Viewers("live/show") == 2 }); !ok {
		t.Fatalf("the second origin has %d viewers of live/show after the first died, want one per edge", origin2.Sessions.Viewers("live/show"))
	}
	time.Sleep(2 * time.Second)
	grace := 2 * time.Second // testenv's
	for i, v := range viewers {
		n, gap, err := v.since(killed)
		if err != nil || n == 0 || gap > grace {
			t.Errorf("viewer %d of edge %d after the first origin died: %d pictures, longest wait %v, err %v", i, i%2, n, gap, err)
		}
	}
	for i, e := range edges {
		if st := linkState(t, e, "origin", "live/show"); st.State != link.StateLive || st.Connects != 2 {
			t.Errorf("edge %d's origin pull: %+v, want live on its second connection", i, st)
		}
	}
}
