// Command relaycast-bench loads a media server on loopback: it publishes the demo clip over
// RTMP in real time, opens N RTMP players and M RTSP/TCP readers at a given ramp, and reports
// for each kind how many kept up, time to first video frame and publisher-to-viewer delay,
// and the server's CPU time and memory from /proc. The RTMP part works against any RTMP
// server (relaycast, nginx-rtmp). With -stored it plays stored files instead, publishing
// nothing: each viewer plays one of the URLs, in turn. It stops by itself.
package main

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/rtmp"
)

type options struct {
	url       string
	pubURL    string // where the publisher goes; the first of url when empty
	rtspURL   string
	hlsURL    string // LL-HLS multivariant playlists, comma-separated (through a cache)
	hlsLive   string // the same stream's playlist straight from the server, where live is
	players   int
	readers   int
	hlsCount  int
	hlsSpread bool
	ramp      time.Duration
	duration  time.Duration
	pids      []int
	label     string
	jsonOut   bool
	stored    bool
	codec     string // h264 or "" (the demo, legacy RTMP), hevc or av1 (enhanced RTMP)
	clip      string // of -codec hevc or av1
	flv       string // an FLV file to publish instead of the demo (-codec h264)
	whepURL   string
	whep      int
	dvrURL    string // a DVR playlist (dvr.m3u8)
	dvr       int
	spread    time.Duration // how far behind live the DVR viewers start, spread evenly
}

func (o options) enhanced() bool { return o.codec != "" && o.codec != "h264" }

func (o options) publishURL() string {
	if o.pubURL != "" {
		return o.pubURL
	}
	first, _, _ := strings.Cut(o.url, ",")
	return first
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "rtmp://127.0.0.1:1935/live/bench", "stream to publish and play (loopback only)")
	flag.StringVar(&o.pubURL, "publish-url", "", "where to publish (default: the first -url); the players play -url, a comma-separated list they share out in turn, e.g. edges of this origin")
	flag.IntVar(&o.players, "players", 100, "RTMP players")
	flag.StringVar(&o.rtspURL, "rtsp-url", "", "RTSP URL of the same stream, for -rtsp-readers (loopback only)")
	flag.IntVar(&o.readers, "rtsp-readers", 0, "RTSP readers (RTP interleaved over TCP)")
	flag.StringVar(&o.hlsURL, "hls-url", "", "LL-HLS playlist (index.m3u8) of the same stream, for -hls-clients, e.g. through an HTTP cache; comma-separated, shared out in turn")
	flag.StringVar(&o.hlsLive, "hls-live", "", "the stream's LL-HLS playlist straight from the server, to measure the clients' lag against (default: the first -hls-url)")
	flag.IntVar(&o.hlsCount, "hls-clients", 0, "LL-HLS clients: blocking playlist reloads, every part fetched")
	flag.BoolVar(&o.hlsSpread, "hls-spread", false, "spread the LL-HLS clients over the variants (renditions) in turn; without it each plays the lowest")
	flag.DurationVar(&o.ramp, "ramp", 5*time.Second, "time over which the players join")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measurement after the ramp")
	flag.Func("pid", "server process ids, comma-separated, for CPU and memory from /proc (summed; none: not measured)", func(v string) error {
		for f := range strings.SplitSeq(v, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return fmt.Errorf("%q is not a process id", f)
			}
			o.pids = append(o.pids, pid)
		}
		return nil
	})
	flag.StringVar(&o.label, "label", "server", "name of the server in the report")
	flag.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	flag.BoolVar(&o.stored, "stored", false, "the URLs are stored files (comma-separated, shared out in turn): play them, publish nothing")
	flag.StringVar(&o.codec, "codec", "h264", "h264 (the demo clip over RTMP), hevc or av1 (a clip over enhanced RTMP, played by enhanced RTMP players)")
	flag.StringVar(&o.clip, "clip", "", "clip of -codec hevc or av1 (default testdata/sample-720p-CODEC.mp4)")
	flag.StringVar(&o.flv, "flv", "", "FLV file to publish over RTMP instead of the demo clip (-codec h264), e.g. one without B-frames for -whep-viewers")
	flag.StringVar(&o.whepURL, "whep-url", "", "WHEP URL of the same stream, for -whep-viewers (loopback only)")
	flag.IntVar(&o.whep, "whep-viewers", 0, "WebRTC viewers (WHEP, H.264 video)")
	flag.StringVar(&o.dvrURL, "dvr-url", "", "a path's DVR playlist (.../dvr.m3u8), for -dvr-viewers (loopback only)")
	flag.IntVar(&o.dvr, "dvr-viewers", 0, "DVR viewers: each plays the window from its own start, in real time, a segment ahead")
	flag.DurationVar(&o.spread, "dvr-spread", time.Hour, "how far behind live the DVR viewers start: viewer i of N at (i+1)/N of it")
	flag.Parse()
	if o.clip == "" && o.enhanced() {
		o.clip = "testdata/sample-720p-" + o.codec + ".mp4"
	}
	for _, u := range slices.Concat(strings.Split(o.url+","+o.publishURL(), ","), strings.Split(o.rtspURL, ","),
		strings.Split(o.hlsURL, ","), []string{o.hlsLive, o.whepURL, o.dvrURL}) {
		if err := checkLoopback(u); u != "" && err != nil {
			fmt.Fprintln(os.Stderr, "relaycast-bench:", err)
			os.Exit(2)
		}
	}
	if o.readers > 0 && o.rtspURL == "" {
		fmt.Fprintln(os.Stderr, "relaycast-bench: -rtsp-readers needs -rtsp-url")
		os.Exit(2)
	}
	if o.whep > 0 && o.whepURL == "" {
		fmt.Fprintln(os.Stderr, "relaycast-bench: -whep-viewers needs -whep-url")
		os.Exit(2)
	}
	if o.dvr > 0 && o.dvrURL == "" {
		fmt.Fprintln(os.Stderr, "relaycast-bench: -dvr-viewers needs -dvr-url")
		os.Exit(2)
	}
	if o.hlsCount > 0 && o.hlsURL == "" {
		fmt.Fprintln(os.Stderr, "relaycast-bench: -hls-clients needs -hls-url")
		os.Exit(2)
	}
	r, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relaycast-bench:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		_ = json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Println(r)
}

// checkLoopback refuses any target but this machine.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		host = u.Host
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: only loopback addresses (127.0.0.0/8, ::1) may be loaded", raw)
	}
	return nil
}

// Result is one load run: the RTMP players' figures inline, the RTSP readers' under RTSP.
type Result struct {
	Label string `json:"label"`
	Group
	RTSP       *Group    `json:"rtsp,omitempty"`
	WHEP       *Group    `json:"whep,omitempty"`
	HLS        *HLSGroup `json:"hls,omitempty"`
	DVR        *DVRGroup `json:"dvr,omitempty"`
	CPUSeconds float64   `json:"cpu_seconds"`
	CPUPercent float64   `json:"cpu_percent"`
	// The load tool's own CPU: near 200 % on two cores, its players are the bottleneck.
	ClientCPUPercent float64 `json:"client_cpu_percent"`
	IdleRSSMiB       float64 `json:"idle_rss_mib"` // with the publisher, before any viewer
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	KiBPerViewer     float64 `json:"kib_per_viewer"` // (peak - idle) / viewers
	MeasuredFor      float64 `json:"measured_s"`
	// The first player of each -url, in order: a cold start (an edge pulling from its origin).
	FirstTTFF []float64 `json:"first_ttff_ms,omitempty"`
}

// Group is what one kind of viewer saw.
type Group struct {
	Players   int     `json:"players"`
	KeptUp    int     `json:"kept_up"`
	FPSMin    float64 `json:"fps_min"`
	FPSMedian float64 `json:"fps_median"`
	TTFFP50   float64 `json:"ttff_p50_ms"`
	TTFFP99   float64 `json:"ttff_p99_ms"`
	DelayP50  float64 `json:"delay_p50_ms"`
	DelayP99  float64 `json:"delay_p99_ms"`
	Failed    int     `json:"failed"`
	// BadStarts counts viewers whose first picture was not a keyframe with its config
	// (measured for -codec hevc and av1); Broken, pictures that did not depacketize.
	BadStarts int   `json:"bad_starts"`
	Broken    int64 `json:"broken_pictures"`
}

func (g Group) String() string {
	return fmt.Sprintf("%5d kept-up %5d failed %d  fps min/med %4.1f/%4.1f  first frame p50/p99 %6.1f/%6.1f ms  delay p50/p99 %6.1f/%6.1f ms  bad starts %d broken %d",
		g.Players, g.KeptUp, g.Failed, g.FPSMin, g.FPSMedian, g.TTFFP50, g.TTFFP99, g.DelayP50, g.DelayP99, g.BadStarts, g.Broken)
}

func (r Result) String() string {
	s := fmt.Sprintf("%-10s rtmp players %v", r.Label, r.Group)
	if r.RTSP != nil {
		s += fmt.Sprintf("\n%-10s rtsp readers %v", r.Label, *r.RTSP)
	}
	if r.HLS != nil {
		s += fmt.Sprintf("\n%-10s ll-hls       %v", r.Label, *r.HLS)
	}
	if r.WHEP != nil {
		s += fmt.Sprintf("\n%-10s whep viewers %v", r.Label, *r.WHEP)
	}
	if r.DVR != nil {
		s += fmt.Sprintf("\n%-10s dvr viewers  %v", r.Label, *r.DVR)
	}
	if len(r.FirstTTFF) > 1 {
		s += fmt.Sprintf("\n%-10s first frame of the first player of each URL (ms): %.1f", r.Label, r.FirstTTFF)
	}
	return s + fmt.Sprintf("\n%-10s cpu %5.1f%% (load tool %.1f%%)  rss idle %.1f MiB, peak %.1f MiB (%.1f KiB per viewer)",
		r.Label, r.CPUPercent, r.ClientCPUPercent, r.IdleRSSMiB, r.PeakRSSMiB, r.KiBPerViewer)
}

// clock maps video frames, by picture, to when the publisher sent them.
type clock struct {
	mu       sync.RWMutex
	pictures map[uint64]time.Time // the clip loops: the latest sending of each picture
}

func (c *clock) mark(picture uint64, at time.Time) {
	c.mu.Lock()
	c.pictures[picture] = at
	c.mu.Unlock()
}

func (c *clock) pictureAt(key uint64) (time.Time, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.pictures[key]
	return t, ok
}

type viewer struct {
	ttff     time.Duration
	badStart bool         // the first picture was not one to start from, with its config
	frames   atomic.Int64 // video frames received during the measurement
	broken   atomic.Int64 // pictures that did not depacketize
	delays   []time.Duration
	err      error
}

func run(o options) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.ramp+o.duration+30*time.Second)
	defer cancel()
	clk := &clock{pictures: map[uint64]time.Time{}}
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	if !o.stored {
		if err := startPublisher(pubCtx, o, clk); err != nil {
			return Result{}, err
		}
	}
	urls, rtspURLs := strings.Split(o.url, ","), strings.Split(o.rtspURL, ",")
	if o.stored {
		warmUp(ctx, o, urls, rtspURLs, clk)
	}
	idleRSS := rssMiB(o.pids, "VmRSS:")

	var players, readers, whepViewers []*viewer
	var hlsClients []*hlsClient
	var dvrViewers []*dvrViewer
	var measuring atomic.Bool
	var wg sync.WaitGroup
	playCtx, stopPlay := context.WithCancel(ctx)
	defer stopPlay()
	hls, err := startHLS(playCtx, o, &wg)
	if err != nil {
		return Result{}, err
	}
	api, err := whepAPI()
	if err != nil {
		return Result{}, err
	}
	dvrClient := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * o.dvr}}
	context.AfterFunc(playCtx, dvrClient.CloseIdleConnections)
	kinds := schedule(o.players, o.readers, o.hlsCount, o.whep, o.dvr)
	for _, kind := range kinds {
		if len(kinds) > 1 {
			time.Sleep(o.ramp / time.Duration(len(kinds)))
		}
		switch kind {
		case 0:
			v := &viewer{}
			url := urls[len(players)%len(urls)]
			players = append(players, v)
			if !o.enhanced() {
				wg.Go(func() { v.play(playCtx, url, clk, &measuring) })
			} else {
				wg.Go(func() { v.playEnhanced(playCtx, url, clk, &measuring) })
			}
		case 1:
			v := &viewer{}
			url := rtspURLs[len(readers)%len(rtspURLs)]
			readers = append(readers, v)
			if !o.enhanced() {
				wg.Go(func() { v.playRTSP(playCtx, url, clk, &measuring) })
			} else {
				wg.Go(func() { v.playRTSPCodec(playCtx, url, clk, &measuring) })
			}
		case 2:
			c := &hlsClient{}
			u := hls.urls[len(hlsClients)%len(hls.urls)]
			variant := 0
			if o.hlsSpread {
				variant = len(hlsClients) / len(hls.urls)
			}
			hlsClients = append(hlsClients, c)
			wg.Go(func() { c.start(playCtx, hls.client, u, variant, hls.live, &measuring) })
		case 3:
			v := &viewer{}
			whepViewers = append(whepViewers, v)
			wg.Go(func() { v.playWHEP(playCtx, api, o.whepURL, clk, &measuring) })
		case 4:
			v := &dvrViewer{}
			dvrViewers = append(dvrViewers, v)
			back := o.spread * time.Duration(len(dvrViewers)) / time.Duration(o.dvr)
			wg.Go(func() { v.play(playCtx, dvrClient, o.dvrURL, back, &measuring) })
		}
	}
	cpu0, self0 := cpuSeconds(o.pids), cpuSeconds([]int{os.Getpid()})
	start := time.Now()
	measuring.Store(true)
	time.Sleep(o.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu, self := cpuSeconds(o.pids)-cpu0, cpuSeconds([]int{os.Getpid()})-self0
	stopPlay()
	wg.Wait()
	stopPub()
	r := Result{Label: o.label, Group: summarize(players, elapsed), MeasuredFor: elapsed.Seconds(),
		CPUSeconds: cpu, CPUPercent: 100 * cpu / elapsed.Seconds(), ClientCPUPercent: 100 * self / elapsed.Seconds(),
		IdleRSSMiB: idleRSS, PeakRSSMiB: rssMiB(o.pids, "VmHWM:")}
	for _, v := range players[:min(len(urls), len(players))] {
		r.FirstTTFF = append(r.FirstTTFF, float64(v.ttff)/float64(time.Millisecond))
	}
	if o.readers > 0 {
		g := summarize(readers, elapsed)
		r.RTSP = &g
	}
	if o.hlsCount > 0 {
		r.HLS = summarizeHLS(hlsClients, hls.live)
	}
	if o.whep > 0 {
		g := summarize(whepViewers, elapsed)
		r.WHEP = &g
	}
	if o.dvr > 0 {
		r.DVR = summarizeDVR(dvrViewers)
	}
	if len(kinds) > 0 {
		r.KiBPerViewer = (r.PeakRSSMiB - r.IdleRSSMiB) * 1024 / float64(len(kinds))
	}
	return r, nil
}

func (v *viewer) play(ctx context.Context, rawURL string, clk *clock, measuring *atomic.Bool) {
	start := time.Now()
	p, err := rtmp.Play(ctx, rawURL, rtmp.PlayOptions{})
	if err != nil {
		v.err = err
		return
	}
	defer p.Close()
	go func() { <-ctx.Done(); p.Close() }()
	for {
		m, err := p.Next()
		if err != nil {
			return
		}
		if m.Kind != rtmp.VideoMsg || len(m.Body) < 2 || m.Body[1] != 1 {
			continue
		}
		now := time.Now()
		if v.ttff == 0 {
			v.ttff = now.Sub(start)
		}
		if !measuring.Load() {
			continue
		}
		v.frames.Add(1)
		if len(v.delays) >= 4096 || len(m.Body) <= 5 {
			continue
		}
		if sent, ok := clk.pictureAt(pictureKey(lastAVCCNALU(m.Body[5:]))); ok {
			v.delays = append(v.delays, now.Sub(sent))
		}
	}
}

// schedule orders viewers of several kinds (0, 1, … with the counts given) so that each kind
// joins evenly over the whole ramp.
func schedule(counts ...int) []int {
	type slot struct {
		at   float64
		kind int
	}
	var slots []slot
	for kind, n := range counts {
		for j := range n {
			slots = append(slots, slot{(float64(j) + 0.5) / float64(n), kind})
		}
	}
	slices.SortStableFunc(slots, func(a, b slot) int { return cmp.Compare(a.at, b.at) })
	kinds := make([]int, len(slots))
	for i, s := range slots {
		kinds[i] = s.kind
	}
	return kinds
}

// hlsRun is what the LL-HLS clients share: an HTTP client, each -hls-url's playlists, and
// the live edge watched straight on the server.
type hlsRun struct {
	client *http.Client
	urls   []string // multivariant playlists
	live   *liveParts
}

func startHLS(ctx context.Context, o options, wg *sync.WaitGroup) (*hlsRun, error) {
	h := &hlsRun{live: &liveParts{index: map[string]int{}}}
	if o.hlsCount == 0 {
		return h, nil
	}
	h.client = &http.Client{Timeout: 15 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 2 * o.hlsCount, MaxIdleConnsPerHost: 2 * o.hlsCount}}
	context.AfterFunc(ctx, h.client.CloseIdleConnections)
	for u := range strings.SplitSeq(o.hlsURL, ",") {
		// each client loads the multivariant playlist itself (a server may give each its own
		// session); this first load waits for the stream to be there
		if _, err := hlsMedia(ctx, h.client, u, 0); err != nil {
			return nil, err
		}
		h.urls = append(h.urls, u)
	}
	live := o.hlsLive
	if live == "" {
		live, _, _ = strings.Cut(o.hlsURL, ",")
	}
	st, err := hlsMedia(ctx, h.client, live, 0)
	if err != nil {
		return nil, err
	}
	wg.Go(func() { h.live.watch(ctx, h.client, st.video) })
	return h, nil
}

// warmUp plays each stored URL with one viewer of each kind for two seconds, then waits a
// second: the server's first viewer of a file pages in code and builds the file's index,
// which later viewers share, so the per-viewer memory is measured from after it.
func warmUp(ctx context.Context, o options, urls, rtspURLs []string, clk *clock) {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var off atomic.Bool
	for _, u := range urls {
		if o.players > 0 {
			wg.Go(func() { (&viewer{}).play(wctx, u, clk, &off) })
		}
	}
	for _, u := range rtspURLs {
		if o.readers > 0 {
			wg.Go(func() { (&viewer{}).playRTSP(wctx, u, clk, &off) })
		}
	}
	wg.Wait()
	time.Sleep(time.Second)
}

// startPublisher publishes the demo clip (or -clip) and returns once a GOP of it is in the
// server's cache.
func startPublisher(ctx context.Context, o options, clk *clock) error {
	pubErr := make(chan error, 1)
	published := make(chan struct{})
	if !o.enhanced() {
		clip := ingest.DemoClip()
		if o.flv != "" {
			var err error
			if clip, err = os.ReadFile(o.flv); err != nil {
				return err
			}
		}
		go func() { pubErr <- publish(ctx, o.publishURL(), clip, clk, published) }()
	} else {
		frames, err := clipFrames(o.codec, o.clip)
		if err != nil {
			return err
		}
		go func() { pubErr <- publishEnhanced(ctx, o.publishURL(), frames, clk, published) }()
	}
	select {
	case <-published:
	case err := <-pubErr:
		return fmt.Errorf("publisher: %w", err)
	}
	time.Sleep(1500 * time.Millisecond)
	return nil
}

// publish loops an FLV clip in real time, remembering when each video frame went out.
func publish(ctx context.Context, rawURL string, clip []byte, clk *clock, published chan<- struct{}) error {
	tags, err := format.ParseFLVFile(clip)
	if err != nil {
		return err
	}
	p, err := rtmp.Publish(ctx, rawURL, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	close(published)
	var last uint32
	for _, t := range tags {
		last = max(last, t.Timestamp)
	}
	loop := last + 33
	start := time.Now()
	for n := uint32(0); ; n++ {
		for _, t := range tags {
			if t.Type == format.FLVScript {
				continue
			}
			ts := n*loop + t.Timestamp
			if n > 0 && len(t.Body) > 1 && t.Body[1] == 0 {
				continue // sequence headers once
			}
			if d := time.Until(start.Add(time.Duration(ts) * time.Millisecond)); d > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(d):
				}
			}
			if t.Type == format.FLVVideo && len(t.Body) > 5 {
				clk.mark(pictureKey(lastAVCCNALU(t.Body[5:])), time.Now())
			}
			if err := p.WriteTag(t.Type, ts, t.Body); err != nil {
				return err
			}
		}
	}
}

func summarize(viewers []*viewer, elapsed time.Duration) Group {
	r := Group{Players: len(viewers)}
	want := elapsed.Seconds() * 30
	var fps []float64
	var ttff, delays []time.Duration
	for _, v := range viewers {
		if v.err != nil {
			r.Failed++
		}
		n := float64(v.frames.Load())
		fps = append(fps, n/elapsed.Seconds())
		if n >= 0.95*want {
			r.KeptUp++
		}
		if v.ttff > 0 {
			ttff = append(ttff, v.ttff)
		}
		if v.badStart {
			r.BadStarts++
		}
		r.Broken += v.broken.Load()
		delays = append(delays, v.delays...)
	}
	slices.Sort(fps)
	if len(fps) > 0 {
		r.FPSMin, r.FPSMedian = fps[0], fps[len(fps)/2]
	}
	r.TTFFP50, r.TTFFP99 = percentileMS(ttff, 50), percentileMS(ttff, 99)
	r.DelayP50, r.DelayP99 = percentileMS(delays, 50), percentileMS(delays, 99)
	return r
}

func percentileMS(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := min(len(d)-1, len(d)*p/100)
	return float64(d[i]) / float64(time.Millisecond)
}

// cpuSeconds is the user+system CPU time of processes, from /proc/PID/stat.
func cpuSeconds(pids []int) float64 {
	var sum float64
	for _, pid := range pids {
		sum += processCPUSeconds(pid)
	}
	return sum
}

func processCPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // clock ticks; 100 a second on Linux
}

// rssMiB sums a memory field of processes' /proc status: VmRSS (resident now) or VmHWM
// (the high-water mark).
func rssMiB(pids []int, field string) float64 {
	var sum float64
	for _, pid := range pids {
		sum += processRSSMiB(pid, field)
	}
	return sum
}

func processRSSMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
