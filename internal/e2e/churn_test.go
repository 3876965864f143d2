package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	rtspformat "github.com/bluenviron/gortsplib/v5/pkg/format"
	gosrt "github.com/datarhei/gosrt"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/ertmpclient"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
)

// churnCycles is how many connect-and-hang-up cycles the churn test runs, across all kinds.
const churnCycles = 10000

// 10 000 viewers and publishers connect, get their first media and hang up, over RTMP,
// RTSP, SRT, LL-HLS and the page's fMP4, several at a time: afterwards the server holds the
// goroutines and the heap it held after the first few hundred (users of other servers
// report running out of memory after days of this).
func TestChurnLeavesNothingBehind(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Quiet: true, Conf: func(c *conf.Config) { c.Demo = true }})
	testenv.WaitLive(t, srv, "live/demo", 10*time.Second)
	demo, err := mediatest.DemoFrames()
	if err != nil {
		t.Fatal(err)
	}
	clip := testenv.HEVCFrames(t)[:90]
	hevc := make([]*relay.Frame, len(clip)) // from 0, so that the publisher's first frame goes at once
	for i, f := range clip {
		g := *f
		g.DTS, g.PTS = f.DTS-clip[0].DTS, f.PTS-clip[0].DTS
		hevc[i] = &g
	}
	http := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	// live waits until a churning publisher's stream is up, then its publisher may go.
	live := func(path string) func() error {
		return func() error {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if st, err := srv.Relays.Lookup(path); err == nil && st.Stats().Frames > 0 {
					return nil
				}
			}
			return fmt.Errorf("%s did not go live", path)
		}
	}
	// Each kind's share of the cycles, by how long one takes: an SRT cycle takes about
	// 120 ms (gosrt's handshake and 10 ms ticks), a page's fMP4 one a millisecond.
	kinds := []struct {
		name   string
		cycles int
		cycle  func(ctx context.Context, i int) error
	}{
		{"rtmp play", 1800, func(ctx context.Context, _ int) error { return rtmpPlayOnce(ctx, srv.URL("live/demo")) }},
		{"rtmp publish", 1200, func(ctx context.Context, i int) error {
			return rtmpPublishOnce(ctx, fmt.Sprintf("rtmp://%s/live#churn-rtmp-%d", srv.RTMPAddr, i), hevc, live(fmt.Sprintf("live/churn-rtmp-%d", i)))
		}},
		{"rtsp play", 1800, func(ctx context.Context, _ int) error { return rtspPlayOnce(srv.RTSPURL("live/demo")) }},
		{"rtsp publish", 1200, func(ctx context.Context, i int) error {
			path := fmt.Sprintf("live/churn-rtsp-%d", i)
			return rtspPublishOnce(srv.RTSPURL(path), demo, live(path))
		}},
		{"srt read", 300, func(ctx context.Context, _ int) error { return srtReadOnce(srv.SRTAddr, "read:live/demo") }},
		{"srt publish", 300, func(ctx context.Context, i int) error {
			path := fmt.Sprintf("live/churn-srt-%d", i)
			return srtPublishOnce(srv.SRTAddr, "publish:"+path, demo, live(path))
		}},
		{"ll-hls", 1000, func(ctx context.Context, _ int) error { return httpOnce(http, srv.HTTPURL("/live/demo/index.m3u8")) }},
		{"page fmp4", 2400, func(ctx context.Context, _ int) error { return httpOnce(http, srv.HTTPURL("/live/demo/stream.mp4")) }},
	}
	var done atomic.Int64
	spent := make([]time.Duration, len(kinds))
	total := 0
	for _, kind := range kinds {
		total += kind.cycles
	}
	if total != churnCycles {
		t.Fatalf("the kinds' cycles add up to %d", total)
	}
	// run runs the cycles of each kind from the fraction from to the fraction to of its share.
	run := func(from, to float64) {
		var wg sync.WaitGroup
		for k, kind := range kinds {
			wg.Go(func() {
				for i := int(from * float64(kind.cycles)); i < int(to*float64(kind.cycles)); i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					began := time.Now()
					err := kind.cycle(ctx, i)
					spent[k] += time.Since(began)
					cancel()
					if err != nil {
						t.Errorf("%s, cycle %d: %v", kind.name, i, err)
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
	}

	const warmUp = 0.05 // of each kind's share: first uses fill pools and caches
	run(0, warmUp)
	before := settle(t, 0)
	start := time.Now()
	run(warmUp, 1)
	after := settle(t, before.goroutines)
	t.Logf("%d cycles (%d kinds) in %v; before: %v; after: %v", done.Load(), len(kinds), time.Since(start).Round(time.Second), before, after)
	for k, kind := range kinds {
		t.Logf("%s: %d cycles, %v each", kind.name, kind.cycles, (spent[k] / time.Duration(kind.cycles)).Round(10*time.Microsecond))
	}
	if after.goroutines > before.goroutines {
		t.Errorf("goroutines: %d before, %d after:\n%s", before.goroutines, after.goroutines, goroutineDump())
	}
	if after.heap > before.heap+32<<20 {
		t.Errorf("heap in use grew from %d to %d MiB", before.heap>>20, after.heap>>20)
	}
}

type footprint struct {
	goroutines int
	heap, rss  uint64
}

func (f footprint) String() string {
	return fmt.Sprintf("%d goroutines, heap %d MiB, RSS %d MiB", f.goroutines, f.heap>>20, f.rss>>20)
}

// settle waits for the goroutines of hung-up connections to end (down to want, or for 10 s)
// and measures.
func settle(t *testing.T, want int) footprint {
	deadline := time.Now().Add(10 * time.Second)
	var f footprint
	for {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		f = footprint{goroutines: runtime.NumGoroutine(), heap: m.HeapInuse, rss: rss(t)}
		if want == 0 || f.goroutines <= want || time.Now().After(deadline) {
			return f
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func rss(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb uint64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}

func goroutineDump() string {
	b := make([]byte, 1<<20)
	return string(b[:runtime.Stack(b, true)])
}

func rtmpPlayOnce(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	c := &gortmplib.Client{URL: u}
	if err := c.Initialize(ctx); err != nil {
		return err
	}
	defer c.Close()
	_ = c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	for { // until the first picture (gortmplib's Reader would take 2 s to be sure of the tracks)
		msg, err := c.Read()
		if err != nil {
			return err
		}
		if _, ok := msg.(*message.Video); ok {
			return nil
		}
	}
}

// rtmpPublishOnce publishes frames in real time until the stream is live, then hangs up.
func rtmpPublishOnce(ctx context.Context, raw string, frames []*relay.Frame, live func() error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- ertmpclient.Publish(ctx, raw, frames, nil, nil) }()
	err := live()
	cancel()
	return errors.Join(err, <-errc)
}

func rtspPlayOnce(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: ptr(gortsplib.ProtocolTCP), ReadTimeout: 10 * time.Second}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	desc, _, err := c.Describe((*base.URL)(u))
	if err != nil {
		return err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return err
	}
	got := make(chan struct{}, 1)
	c.OnPacketRTPAny(func(*description.Media, rtspformat.Format, *rtp.Packet) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if _, err := c.Play(nil); err != nil {
		return err
	}
	select {
	case <-got:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no packet")
	}
}

func ptr[T any](v T) *T { return &v }

// rtspPublishOnce announces an H.264 stream, sends the demo's first keyframe and hangs up.
func rtspPublishOnce(raw string, frames []*relay.Frame, live func() error) error {
	cfg, err := codec.ParseH264Config(frames[0].Track.Config)
	if err != nil {
		return err
	}
	f := &rtspformat.H264{PayloadTyp: 96, SPS: cfg.SPS[0], PPS: cfg.PPS[0], PacketizationMode: 1}
	media := &description.Media{Type: description.MediaTypeVideo, Formats: []rtspformat.Format{f}}
	c := &gortsplib.Client{Protocol: ptr(gortsplib.ProtocolTCP), ReadTimeout: 10 * time.Second}
	if err := c.StartRecording(raw, &description.Session{Medias: []*description.Media{media}}); err != nil {
		return err
	}
	defer c.Close()
	enc, err := f.CreateEncoder()
	if err != nil {
		return err
	}
	au, err := cfg.AccessUnit(nil, frames[0].Payload)
	if err != nil {
		return err
	}
	pkts, err := enc.Encode(au)
	if err != nil {
		return err
	}
	for _, p := range pkts {
		if err := c.WritePacketRTP(media, p); err != nil {
			return err
		}
	}
	return live()
}

func dialSRT(addr, streamID string) (gosrt.Conn, error) {
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = streamID
	return gosrt.Dial("srt", addr, cfg)
}

func srtReadOnce(addr, streamID string) error {
	conn, err := dialSRT(addr, streamID)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Read(make([]byte, 1500))
	return err
}

// srtPublishOnce sends the demo's first frames as MPEG-TS and hangs up.
func srtPublishOnce(addr, streamID string, frames []*relay.Frame, live func() error) error {
	tracks := []*relay.Track{frames[0].Track}
	ts, err := format.NewTSFramer(tracks)
	if err != nil {
		return err
	}
	conn, err := dialSRT(addr, streamID)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, f := range frames[:60] { // past the demuxer's wait for the tracks
		if f.Track != frames[0].Track {
			continue
		}
		b, err := ts.Frame(f)
		if err != nil {
			return err
		}
		for ; len(b) > 0; b = b[min(len(b), 1316):] {
			if _, err := conn.Write(b[:min(len(b), 1316)]); err != nil {
				return err
			}
		}
	}
	return live()
}

// httpOnce gets url and reads its first bytes: a playlist, or the start of a live fMP4.
func httpOnce(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	_, err = io.ReadFull(resp.Body, make([]byte, 100))
	return err
}
