package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// A publisher that drops for 30 s: past the grace window the path shows its offline card, in
// the stream's codecs, and the publisher that comes back takes over at its first keyframe.
// ffmpeg players over RTMP, RTSP and LL-HLS stay on through it all and decode every picture
// with 0 warnings: no timestamp steps back, no broken picture.
func TestSlateCoversAPublisherDropOf30Seconds(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.Slate = "card" }})
	const path, before, drop, after = "live/slate", 3 * time.Second, 30 * time.Second, 6 * time.Second
	first := testenv.PublishSample(t, srv.URL(path))
	testenv.WaitLive(t, srv, path, 10*time.Second)
	stream, err := srv.Relays.Lookup(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	players := map[string]string{"rtmp": srv.URL(path), "rtsp": srv.RTSPURL(path), "ll-hls": srv.HTTPURL("/" + path + "/index.m3u8")}
	var wg sync.WaitGroup
	var mu sync.Mutex
	decoded := map[string]testenv.Decode{}
	for name, url := range players {
		wg.Go(func() {
			d := testenv.FFmpegDecode(ctx, t, url, before+drop+after)
			mu.Lock()
			decoded[name] = d
			mu.Unlock()
		})
	}
	time.Sleep(before)
	first.Kill() // the encoder drops without a goodbye
	dropped := time.Now()
	for !stream.Stats().Standby {
		if time.Since(dropped) > 15*time.Second {
			t.Fatal("no slate 15 s after the publisher dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	slateAfter := time.Since(dropped)
	var list struct {
		Streams []struct {
			Path                string
			Publishing, Standby bool
		}
	}
	res, err := http.Get(srv.HTTPURL("/api/v1/streams"))
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Streams) != 1 || list.Streams[0].Publishing || !list.Streams[0].Standby {
		t.Errorf("stream list with the slate on: %+v, want %s in standby", list.Streams, path)
	}
	time.Sleep(time.Until(dropped.Add(drop)))
	testenv.PublishSample(t, srv.URL(path))
	for st := stream.Stats(); st.Standby || !st.Publishing; st = stream.Stats() {
		if time.Since(dropped) > drop+10*time.Second {
			t.Fatal("the publisher did not take over from the slate in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	backAfter := time.Since(dropped)
	wg.Wait()
	t.Logf("slate on %v after the drop, publisher back %v after it", slateAfter.Round(time.Millisecond), backAfter.Round(time.Millisecond))
	for name, d := range decoded {
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 {
			t.Errorf("%s: exit %v, warnings:\n%s", name, d.Err, strings.Join(w, "\n"))
		}
		// the slate has 25 pictures a second, the sample 30
		want := testenv.MinFrames(before+after) + int(0.9*25*(drop-slateAfter).Seconds())
		if d.Frames < want {
			t.Errorf("%s decoded %d pictures, want ≥ %d", name, d.Frames, want)
		}
		if stall := d.LongestStall(time.Hour); stall > slateAfter+1500*time.Millisecond {
			t.Errorf("%s stalled %v, want at most the %v before the slate (+1.5 s)", name, stall, slateAfter)
		}
		t.Logf("%s: %d pictures, longest stall %v", name, d.Frames, d.LongestStall(time.Hour))
	}
}
