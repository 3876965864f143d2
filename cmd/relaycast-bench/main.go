// Command relaycast-bench loads an RTMP server on loopback: it publishes the demo clip in real
// time, opens N players at a given ramp, and reports how many kept up, time to first video
// frame, publisher-to-viewer delay, and the server's CPU time and peak memory from /proc.
// It works against any RTMP server (relaycast, nginx-rtmp) and stops by itself.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/rtmpclient"
)

type options struct {
	url      string
	players  int
	ramp     time.Duration
	duration time.Duration
	pid      int
	label    string
	jsonOut  bool
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "rtmp://127.0.0.1:1935/live/bench", "stream to publish and play (loopback only)")
	flag.IntVar(&o.players, "players", 100, "RTMP players")
	flag.DurationVar(&o.ramp, "ramp", 5*time.Second, "time over which the players join")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measurement after the ramp")
	flag.IntVar(&o.pid, "pid", 0, "server process id, for CPU and memory from /proc (0: not measured)")
	flag.StringVar(&o.label, "label", "server", "name of the server in the report")
	flag.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	flag.Parse()
	if err := checkLoopback(o.url); err != nil {
		fmt.Fprintln(os.Stderr, "relaycast-bench:", err)
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

// Result is one load run.
type Result struct {
	Label       string  `json:"label"`
	Players     int     `json:"players"`
	KeptUp      int     `json:"kept_up"`
	FPSMin      float64 `json:"fps_min"`
	FPSMedian   float64 `json:"fps_median"`
	TTFFP50     float64 `json:"ttff_p50_ms"`
	TTFFP99     float64 `json:"ttff_p99_ms"`
	DelayP50    float64 `json:"delay_p50_ms"`
	DelayP99    float64 `json:"delay_p99_ms"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	CPUPercent  float64 `json:"cpu_percent"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	MeasuredFor float64 `json:"measured_s"`
}

func (r Result) String() string {
	return fmt.Sprintf("%-10s players %5d kept-up %5d  fps min/med %4.1f/%4.1f  first frame p50/p99 %6.1f/%6.1f ms  delay p50/p99 %6.1f/%6.1f ms  cpu %5.1f%%  peak rss %6.1f MiB",
		r.Label, r.Players, r.KeptUp, r.FPSMin, r.FPSMedian, r.TTFFP50, r.TTFFP99, r.DelayP50, r.DelayP99, r.CPUPercent, r.PeakRSSMiB)
}

// clock maps RTMP video timestamps to when the publisher sent them.
type clock struct {
	mu   sync.RWMutex
	sent map[uint32]time.Time
}

func (c *clock) mark(ts uint32, at time.Time) {
	c.mu.Lock()
	c.sent[ts] = at
	c.mu.Unlock()
}

func (c *clock) at(ts uint32) (time.Time, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.sent[ts]
	return t, ok
}

type viewer struct {
	ttff   time.Duration
	frames atomic.Int64 // video frames received during the measurement
	delays []time.Duration
	err    error
}

func run(o options) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.ramp+o.duration+30*time.Second)
	defer cancel()
	clk := &clock{sent: map[uint32]time.Time{}}
	pubErr := make(chan error, 1)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	published := make(chan struct{})
	go func() { pubErr <- publish(pubCtx, o.url, clk, published) }()
	select {
	case <-published:
	case err := <-pubErr:
		return Result{}, fmt.Errorf("publisher: %w", err)
	}
	time.Sleep(1500 * time.Millisecond) // a GOP in the server's cache

	viewers := make([]*viewer, o.players)
	var measuring atomic.Bool
	var wg sync.WaitGroup
	playCtx, stopPlay := context.WithCancel(ctx)
	for i := range viewers {
		v := &viewer{}
		viewers[i] = v
		if o.players > 1 {
			time.Sleep(o.ramp / time.Duration(o.players))
		}
		wg.Go(func() { v.play(playCtx, o.url, clk, &measuring) })
	}
	cpu0 := cpuSeconds(o.pid)
	start := time.Now()
	measuring.Store(true)
	time.Sleep(o.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu := cpuSeconds(o.pid) - cpu0
	stopPlay()
	wg.Wait()
	stopPub()
	return summarize(o, viewers, elapsed, cpu), nil
}

func (v *viewer) play(ctx context.Context, rawURL string, clk *clock, measuring *atomic.Bool) {
	start := time.Now()
	p, err := rtmpclient.Play(ctx, rawURL, rtmpclient.Options{})
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
		if m.Kind != rtmpclient.Video || len(m.Body) < 2 || m.Body[1] != 1 {
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
		if sent, ok := clk.at(m.Timestamp); ok && len(v.delays) < 4096 {
			v.delays = append(v.delays, now.Sub(sent))
		}
	}
}

// publish loops the demo clip in real time, remembering when each video frame went out.
func publish(ctx context.Context, rawURL string, clk *clock, published chan<- struct{}) error {
	tags, err := ingest.ParseFLVFile(ingest.DemoClip())
	if err != nil {
		return err
	}
	p, err := rtmpclient.Publish(ctx, rawURL)
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
			if t.Type == ingest.TagScript {
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
			if t.Type == ingest.TagVideo {
				clk.mark(ts, time.Now())
			}
			if err := p.WriteTag(t.Type, ts, t.Body); err != nil {
				return err
			}
		}
	}
}

func summarize(o options, viewers []*viewer, elapsed time.Duration, cpu float64) Result {
	r := Result{Label: o.label, Players: o.players, MeasuredFor: elapsed.Seconds(), CPUSeconds: cpu,
		CPUPercent: 100 * cpu / elapsed.Seconds(), PeakRSSMiB: peakRSSMiB(o.pid)}
	want := elapsed.Seconds() * 30
	var fps []float64
	var ttff, delays []time.Duration
	for _, v := range viewers {
		n := float64(v.frames.Load())
		fps = append(fps, n/elapsed.Seconds())
		if n >= 0.95*want {
			r.KeptUp++
		}
		if v.ttff > 0 {
			ttff = append(ttff, v.ttff)
		}
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

// cpuSeconds is the user+system CPU time of a process, from /proc/PID/stat.
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
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

// peakRSSMiB is the high-water mark of a process's resident memory (VmHWM).
func peakRSSMiB(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
