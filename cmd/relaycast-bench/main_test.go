package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

func TestLoadRunAgainstRelaycast(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	r, err := run(options{url: srv.URL("live/bench"), players: 20, rtspURL: srv.RTSPURL("live/bench"), readers: 10,
		ramp: time.Second, duration: 3 * time.Second, pids: []int{os.Getpid()}, label: "relaycast"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	for _, g := range []*Group{&r.Group, r.RTSP} {
		if g == nil || g.KeptUp != g.Players || g.Failed > 0 || g.TTFFP50 <= 0 || g.DelayP50 <= 0 {
			t.Fatalf("result %+v: want every viewer kept up and every figure measured", g)
		}
	}
	if r.Players != 20 || r.RTSP.Players != 10 || r.CPUSeconds <= 0 || r.IdleRSSMiB <= 0 || r.PeakRSSMiB < r.IdleRSSMiB {
		t.Fatalf("result %+v: want 20 players, 10 readers, CPU and memory measured", r)
	}
}

// -whep-viewers plays over WHEP a clip without B-frames (-flv): every viewer keeps up, its
// first picture an IDR.
func TestLoadRunOfWHEPViewers(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	flv := filepath.Join(t.TempDir(), "clip.flv")
	p := testenv.StartProc(t, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", testenv.SampleWithoutBFrames(t),
		"-c", "copy", "-f", "flv", flv)
	if err := p.Wait(60 * time.Second); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, p.Stderr())
	}
	srv := testenv.Start(t, testenv.Options{})
	r, err := run(options{url: srv.URL("live/bench"), flv: flv, whepURL: srv.HTTPURL("/live/bench/whep"), whep: 10,
		ramp: time.Second, duration: 3 * time.Second, pids: []int{os.Getpid()}, label: "relaycast"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if g := r.WHEP; g == nil || g.Players != 10 || g.KeptUp != g.Players || g.Failed > 0 || g.BadStarts > 0 || g.TTFFP50 <= 0 || g.DelayP50 <= 0 {
		t.Fatalf("result %+v: want every viewer kept up, starting at an IDR, every figure measured", g)
	}
}

// -stored plays files, sharing the URLs out in turn: every viewer keeps real time.
func TestLoadRunOfStoredFiles(t *testing.T) {
	dir := t.TempDir()
	clip, err := os.ReadFile(testenv.Sample())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.mp4", "b.mp4"} {
		if err := os.WriteFile(filepath.Join(dir, name), clip, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = dir }})
	r, err := run(options{stored: true, url: srv.URL("vod/a") + "," + srv.URL("vod/b"), players: 10,
		rtspURL: srv.RTSPURL("vod/a") + "," + srv.RTSPURL("vod/b"), readers: 10,
		ramp: time.Second, duration: 2 * time.Second, pids: []int{os.Getpid()}, label: "relaycast"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	for _, g := range []*Group{&r.Group, r.RTSP} {
		if g == nil || g.KeptUp != g.Players || g.Failed > 0 || g.TTFFP50 <= 0 {
			t.Fatalf("result %+v: want every viewer kept up", g)
		}
	}
}

func TestOnlyLoopbackIsLoaded(t *testing.T) {
	for _, u := range []string{"rtmp://10.0.0.1/live/x", "rtmp://example.com/live/x", "rtmp://192.168.1.2:1935/live/x"} {
		if err := checkLoopback(u); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want refused", u, err)
		}
	}
	for _, u := range []string{"rtmp://127.0.0.1:1935/live/x", "rtmp://[::1]:1935/live/x", "rtmp://127.0.0.2/live/x"} {
		if err := checkLoopback(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// -codec hevc and av1 publish over enhanced RTMP: every enhanced RTMP player and RTSP reader
// keeps real time, starts on a keyframe with its configuration, and gets no broken picture.
func TestLoadRunOfEachCodec(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	for c, clip := range map[string]string{"hevc": testenv.SampleHEVC(), "av1": mediatest.SampleAV1()} {
		t.Run(c, func(t *testing.T) {
			srv := testenv.Start(t, testenv.Options{})
			r, err := run(options{url: srv.URL("live/" + c), players: 10, rtspURL: srv.RTSPURL("live/" + c), readers: 5,
				ramp: time.Second, duration: 3 * time.Second, pids: []int{os.Getpid()}, label: c, codec: c, clip: clip})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(r)
			for _, g := range []*Group{&r.Group, r.RTSP} {
				if g.KeptUp != g.Players || g.Failed > 0 || g.BadStarts > 0 || g.Broken > 0 || g.TTFFP50 <= 0 {
					t.Errorf("result %+v: want every viewer kept up, a clean start and no broken picture", g)
				}
			}
		})
	}
}

// The players share the edges out in turn while the publisher goes to the origin: each
// edge's first player is reported as a cold start, and everyone keeps real time.
func TestLoadRunThroughEdges(t *testing.T) {
	origin := testenv.Start(t, testenv.Options{})
	edge := func(c *conf.Config) { c.Origin = conf.List{"rtmp://" + origin.RTMPAddr} }
	a, b := testenv.Start(t, testenv.Options{Conf: edge}), testenv.Start(t, testenv.Options{Conf: edge})
	r, err := run(options{pubURL: origin.URL("live/bench"), url: a.URL("live/bench") + "," + b.URL("live/bench"),
		players: 20, ramp: time.Second, duration: 3 * time.Second, pids: []int{os.Getpid()}, label: "edges"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.KeptUp != r.Players || r.Failed > 0 || len(r.FirstTTFF) != 2 || r.FirstTTFF[0] <= 0 || r.FirstTTFF[1] <= 0 {
		t.Fatalf("result %+v: want every player kept up and a first frame from each edge", r)
	}
}

// An LL-HLS client loads the variant's video and its audio rendition, and its blocking
// requests keep the query a server put in the playlist's URI (MediaMTX's session).
func TestHLSClientFindsEveryRenditionAndKeepsTheirQuery(t *testing.T) {
	var mv playlist.Multivariant
	err := mv.Unmarshal([]byte("#EXTM3U\n#EXT-X-VERSION:10\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
		`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio2",AUTOSELECT=YES,DEFAULT=YES,URI="audio2_stream.m3u8?session=s1"` + "\n" +
		`#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"` + "\nvideo1_stream.m3u8?session=s1\n"))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://127.0.0.1:1/live/x/index.m3u8")
	s, err := streamOf(base, &mv, 0)
	if err != nil || s.video.String() != "http://127.0.0.1:1/live/x/video1_stream.m3u8?session=s1" || len(s.others) != 1 ||
		s.others[0].String() != "http://127.0.0.1:1/live/x/audio2_stream.m3u8?session=s1" {
		t.Fatalf("stream %+v, %v", s, err)
	}
	next := nextPart(s.video, &playlist.Media{MediaSequence: 4, Segments: make([]*playlist.MediaSegment, 3), Parts: make([]*playlist.MediaPart, 2)})
	if q := next.Query(); q.Get("session") != "s1" || q.Get("_HLS_msn") != "7" || q.Get("_HLS_part") != "2" {
		t.Errorf("blocking request %s", next)
	}
}
