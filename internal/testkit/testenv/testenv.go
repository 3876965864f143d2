// Package testenv starts relaycast servers and real media peers (ffmpeg, ffprobe) for tests,
// on loopback only, and checks that servers leave no goroutine behind.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/app"
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
	"github.com/relaycast/relaycast/rtsp"
)

// MinFrames is how many video frames a player must decode from a window of the 30 fps sample
// or demo clip: 95 % of them.
func MinFrames(window time.Duration) int { return int(window.Seconds() * 30 * 0.95) }

// Sample is the test clip: 6 s of 1280x720 30 fps H.264 High with B-frames and AAC.
func Sample() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "sample-720p.mp4")
}

// SampleHEVC is the test clip in H.265 (Main, B-frames, an IDR every second) with the same
// AAC.
func SampleHEVC() string { return strings.TrimSuffix(Sample(), ".mp4") + "-hevc.mp4" }

// NeedTools fails the test when a peer program is missing: `make test` installs them.
func NeedTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Fatalf("%s is not installed: run `make test`, which installs the test peers", n)
		}
	}
}

// Server is a relaycast server, built and run by internal/app as the binary runs it, on
// loopback ports.
type Server struct {
	*app.App
	RTMPAddr string
	RTSPAddr string
	HTTPAddr string
	SRTAddr  string
	// ConfigFile is the configuration file of Options.YAML, which the server reloads when
	// it changes; empty without one.
	ConfigFile string
	logs       *SyncBuffer
}

// HTTPURL returns the http:// URL of a path (e.g. "/live/demo") on this server.
func (s *Server) HTTPURL(path string) string { return "http://" + s.HTTPAddr + path }

// URL returns the rtmp:// URL of path on this server.
func (s *Server) URL(path string) string { return "rtmp://" + s.RTMPAddr + "/" + path }

// RTSPURL returns the rtsp:// URL of path on this server.
func (s *Server) RTSPURL(path string) string { return "rtsp://" + s.RTSPAddr + "/" + path }

// SRTURL returns the srt:// URL on this server with the given stream id (e.g.
// "publish:live/x"), as ffmpeg takes it: not escaped (ffmpeg 5.1 does not unescape it).
func (s *Server) SRTURL(streamID string) string {
	return "srt://" + s.SRTAddr + "?streamid=" + streamID
}

// Options adjust the server a test starts.
type Options struct {
	Conf  func(*conf.Config) // operator settings; the defaults have no demo and a 2 s grace
	Relay relay.Config       // zero: from the configuration
	RTMP  rtmp.Config        // zero: from the configuration
	RTSP  *rtsp.Config       // nil: from the configuration, on free UDP ports
	Tune  func(*app.Tuning)  // last word on the parts' configuration
	// Quiet logs warnings and errors only: for tests that connect thousands of times.
	Quiet bool
	// YAML, when set, is written to a configuration file read over the test's defaults
	// (before Conf); the server reloads it when it changes (Server.ConfigFile).
	YAML string
}

// udpClash says whether the RTSP UDP pair is the port of SRT or WebRTC.
func udpClash(cfg conf.Config) bool {
	for _, addr := range []string{cfg.SRT, cfg.WebRTC} {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			if n, _ := strconv.Atoi(port); n != 0 && (n == cfg.RTSPRTPPort || n == cfg.RTSPRTCPPort) {
				return true
			}
		}
	}
	return false
}

// isPairInUse says whether err is the RTSP UDP pair's port being in use.
func isPairInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) && strings.HasPrefix(err.Error(), "rtsp_rt")
}

// Start runs a server until the test ends, then closes it and checks for leaked goroutines.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	CheckLeaks(t)
	base := conf.Default()
	base.RTMP, base.RTSP, base.HTTP, base.SRT = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	base.WebRTC = "127.0.0.1:0"
	base.Demo, base.Grace = false, 2*time.Second
	base.MediaDir = t.TempDir()
	base.RTSPRTPPort, base.RTSPRTCPPort = FreeUDPPair(t)
	var file string
	if opt.YAML != "" {
		file = filepath.Join(t.TempDir(), "relaycast.yaml")
		if err := os.WriteFile(file, []byte(opt.YAML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	load := func() (conf.Config, error) {
		cfg := base
		if file != "" {
			if err := cfg.ReadFile(file); err != nil {
				return cfg, err
			}
		}
		if opt.Conf != nil {
			opt.Conf(&cfg)
		}
		return cfg, cfg.Validate()
	}
	cfg, err := load()
	// A test may give a UDP port of its own (a target restarted on the port it had): the RTSP
	// pair, picked free before, must not be that one.
	for try := 0; err == nil && try < 10 && udpClash(cfg); try++ {
		base.RTSPRTPPort, base.RTSPRTCPPort = FreeUDPPair(t)
		cfg, err = load()
	}
	if err != nil {
		t.Fatal(err)
	}
	logs := &SyncBuffer{}
	level := slog.LevelInfo
	if opt.Quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, logs), &slog.HandlerOptions{Level: level}))
	tune := func(tu *app.Tuning) {
		if opt.Relay != (relay.Config{}) {
			tu.Relay = opt.Relay
			tu.FMP4.MaxLag, tu.SRT.MaxLag = opt.Relay.MaxLag, opt.Relay.MaxLag
		}
		if opt.RTMP != (rtmp.Config{}) {
			tu.RTMP = opt.RTMP
		}
		if opt.RTSP != nil {
			tu.RTSP = *opt.RTSP
		}
		if opt.Relay != (relay.Config{}) && opt.RTSP == nil {
			tu.RTSP.MaxLag = opt.Relay.MaxLag
		}
		if opt.Tune != nil {
			opt.Tune(tu)
		}
	}
	a, err := app.New(cfg, log, tune)
	// The pair was free when picked; a socket of another test process may have taken it since.
	for try := 0; try < 10 && isPairInUse(err); try++ {
		base.RTSPRTPPort, base.RTSPRTCPPort = FreeUDPPair(t)
		if cfg, err = load(); err == nil {
			a, err = app.New(cfg, log, tune)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	stopReloads := func() {}
	if file != "" {
		if stopReloads, err = a.ReloadOn(nil, load); err != nil {
			_ = a.Close()
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		stopReloads()
		if err := a.Close(); err != nil {
			t.Errorf("server close: %v", err)
		}
		select {
		case err := <-a.Failed():
			t.Errorf("server: %v", err)
		default:
		}
	})
	addrs := a.Addrs()
	return &Server{App: a, RTMPAddr: addrs.RTMP, RTSPAddr: addrs.RTSP, HTTPAddr: addrs.HTTP, SRTAddr: addrs.SRT, ConfigFile: file, logs: logs}
}

// WaitLog waits until the server has logged a line containing all of parts, and fails the
// test after timeout.
func (s *Server) WaitLog(t testing.TB, timeout time.Duration, parts ...string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(s.logs.String(), "\n") {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server logged no line with %q in %v", parts, timeout)
		}
	}
}

// FreeUDPPair finds an even UDP port whose successor is free too, for RTP and RTCP.
func FreeUDPPair(t testing.TB) (int, int) {
	t.Helper()
	for range 100 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		a.Close()
		if p%2 != 0 || p >= 65535 {
			continue
		}
		b, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		if err != nil {
			continue
		}
		b.Close()
		return p, p + 1
	}
	t.Fatal("no free UDP port pair")
	return 0, 0
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// checked are the tests whose leaks are checked already: the first check registered runs
// last, after every server of the test has closed.
var checked sync.Map

// CheckLeaks fails the test if, once it and its cleanups are done, goroutines of relaycast or
// go-rtmp are still running. Register it before anything that starts goroutines; a second
// call in the same test does nothing.
func CheckLeaks(t testing.TB) {
	t.Helper()
	if _, dup := checked.LoadOrStore(t, true); dup {
		return
	}
	t.Cleanup(func() {
		defer checked.Delete(t)
		deadline := time.Now().Add(10 * time.Second)
		for {
			leaked := leakedGoroutines()
			if leaked == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines left behind:\n%s", leaked)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func leakedGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "internal/testkit/testenv.leakedGoroutines") || strings.Contains(g, "testing.tRunner") {
			continue
		}
		if strings.Contains(g, "relaycast/relaycast/") || strings.Contains(g, "yutopp/go-rtmp") || strings.Contains(g, "gortsplib") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// Proc is a running peer program.
type Proc struct {
	cmd    *exec.Cmd
	stderr SyncBuffer
	done   chan struct{}
	err    error
}

// StartProc starts a peer program that is killed when the test ends.
func StartProc(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.Kill() })
	return p
}

// Kill ends the program at once (SIGKILL) and waits for it.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop asks the program to end (SIGTERM) and waits for it, at most d.
func (p *Proc) Stop(d time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.Wait(d)
}

// Wait waits for the program to exit by itself, at most d.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s still running after %v", p.cmd.Path, d)
	}
}

// Exited reports whether the program has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stderr is what the program has written to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// SyncBuffer is a buffer that goroutines may write to at once: a log, a program's stderr.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PublishSample starts ffmpeg publishing the sample clip in a loop, in real time, to url.
func PublishSample(t testing.TB, url string) *Proc {
	t.Helper()
	NeedTools(t, "ffmpeg")
	return StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", Sample(), "-c", "copy", "-f", "flv", url)
}

// PublishSampleWithoutBFrames is PublishSample of the clip encoded again without B-frames
// (SampleWithoutBFrames), as WebRTC players need it.
func PublishSampleWithoutBFrames(t testing.TB, url string) *Proc {
	t.Helper()
	return StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", SampleWithoutBFrames(t), "-c", "copy", "-f", "flv", url)
}

// SampleWithoutBFrames is the sample clip with its picture encoded again without B-frames
// (x264, High profile, 2 Mbit/s, a keyframe a second), the AAC as it is. It is made once and
// kept in the temporary directory under a name of the sample's hash, for every test process:
// encoding it live, as it is published, left a busy machine short of pictures.
func SampleWithoutBFrames(t testing.TB) string {
	t.Helper()
	NeedTools(t, "ffmpeg")
	b, err := os.ReadFile(Sample())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("relaycast-sample-no-bframes-%x.mp4", sha256.Sum256(b)))
	if _, err := os.Stat(out); err == nil {
		return out
	}
	tmp, err := os.CreateTemp(os.TempDir(), "relaycast-sample-*.mp4")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", Sample(),
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "0", "-g", "30", "-keyint_min", "30",
		"-sc_threshold", "0", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M", "-c:a", "copy", "-movflags", "+faststart", tmp.Name())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("encode the sample without B-frames: %v\n%s", err, b)
	}
	// Test processes run side by side: each makes its own and renames it into place whole.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// WaitLive waits until path has a stream with at least one frame.
func WaitLive(t testing.TB, s *Server, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if st, err := s.Relays.Lookup(path); err == nil && st.Stats().Frames > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not go live within %v", path, timeout)
}

// Decode is what an ffmpeg player saw.
type Decode struct {
	Frames   int           // video frames decoded
	Stderr   string        // errors ffmpeg printed (loglevel error)
	Err      error         // ffmpeg's exit
	Progress []Progress    // frame count over wall time
	Elapsed  time.Duration // wall time from start to exit
}

// Progress is one ffmpeg progress report.
type Progress struct {
	At     time.Duration
	Frames int
	Media  time.Duration // media time written so far (out_time)
}

// FFmpegDecode plays url with ffmpeg, decoding every video and audio frame of the first
// `media` of media time, and reports what it decoded. extra goes before -i.
func FFmpegDecode(ctx context.Context, t testing.TB, url string, media time.Duration, extra ...string) Decode {
	t.Helper()
	NeedTools(t, "ffmpeg")
	args := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1", "-stats_period", "0.1"}, extra...)
	// Decoded pictures keep the stream's own timestamps (-enc_time_base -1) and none is
	// dropped or repeated (passthrough): a picture whose timestamp repeats or steps back is
	// then reported by the muxer as what it is. ffmpeg's default rounds them to 1/frame-rate,
	// its guess from the first few, and reports collisions of its own making.
	args = append(args, "-i", url, "-t", strconv.FormatFloat(media.Seconds(), 'f', 3, 64),
		"-fps_mode", "passthrough", "-enc_time_base:v", "-1", "-f", "null", "-")
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var d Decode
	d.Progress = readProgress(out, start)
	d.Err = cmd.Wait()
	d.Elapsed = time.Since(start)
	d.Stderr = strings.TrimSpace(stderr.String())
	if len(d.Progress) > 0 {
		d.Frames = d.Progress[len(d.Progress)-1].Frames
	}
	return d
}

// readProgress reads ffmpeg's progress reports, blocks of key=value lines that each end
// with progress=...
func readProgress(r io.Reader, start time.Time) []Progress {
	var (
		ps  []Progress
		cur Progress
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		v = strings.TrimSpace(v)
		switch k {
		case "frame":
			cur.Frames, _ = strconv.Atoi(v)
		case "out_time_us":
			us, _ := strconv.ParseInt(v, 10, 64)
			cur.Media = time.Duration(us) * time.Microsecond
		case "progress":
			cur.At = time.Since(start)
			ps = append(ps, cur)
		}
	}
	return ps
}

// LongestStall is the longest wall time in which the decoded frame count did not grow,
// counted from the first decoded frame, among reports up to `until` after the start.
func (d Decode) LongestStall(until time.Duration) time.Duration {
	var longest, since time.Duration
	last := 0
	for _, p := range d.Progress {
		if p.At > until {
			break
		}
		if p.Frames > last {
			if last > 0 {
				longest = max(longest, p.At-since)
			}
			last, since = p.Frames, p.At
		}
	}
	return longest
}

// FFprobeStreams returns "codec WxH" (video) or "codec" (audio) for each stream at url.
func FFprobeStreams(ctx context.Context, t testing.TB, url string, extra ...string) []string {
	t.Helper()
	NeedTools(t, "ffprobe")
	args := append([]string{"-v", "error"}, extra...)
	args = append(args, "-show_entries", "stream=codec_type,codec_name,width,height", "-of", "csv=p=0", url)
	out, err := exec.CommandContext(ctx, "ffprobe", args...).CombinedOutput()
	if err != nil { // an error, not a stop: tests call this from goroutines of their own
		t.Errorf("ffprobe %s: %v\n%s", url, err, out)
		return nil
	}
	var streams []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		switch {
		case len(f) >= 4 && f[1] == "video":
			streams = append(streams, fmt.Sprintf("%s %sx%s", f[0], f[2], f[3]))
		case len(f) >= 2:
			streams = append(streams, f[0])
		}
	}
	return streams
}

// PublishDemo publishes the built-in demo clip at path, in real time, until the test ends.
func PublishDemo(t testing.TB, s *Server, path string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	demo, err := app.Demo(path, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- demo.Run(ctx, s.Relays) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	WaitLive(t, s, path, 5*time.Second)
}

// CheckVLCDecoded fails the test unless VLC's verbose log shows H.264 and AAC found and
// the video decoder started, and no decoder, input or demux error.
func CheckVLCDecoded(t testing.TB, log string) {
	t.Helper()
	checkVLC(t, log, "video codec = h264", "audio codec = mp4a", "codec (h264) started")
}

// CheckVLCStartedDecoders is CheckVLCDecoded for demuxers that name no codec (MPEG-TS,
// HLS): the H.264 decoder and an audio decoder started, and a picture reached the output.
func CheckVLCStartedDecoders(t testing.TB, log string) {
	t.Helper()
	checkVLC(t, log, "codec (h264) started", "using audio decoder module", "video output debug: original format sz")
}

func checkVLC(t testing.TB, log string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(log, want) {
			t.Errorf("VLC log lacks %q", want)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "decoder error") || strings.Contains(line, "input error") || strings.Contains(line, "demux error") {
			t.Errorf("VLC: %s", line)
		}
	}
}

// VLCPlay plays url with cvlc (no window, no sound device) for the given time and returns its
// verbose log. VLC refuses to run as root, so as root it runs as nobody.
func VLCPlay(ctx context.Context, t testing.TB, url string, d time.Duration) (string, error) {
	t.Helper()
	NeedTools(t, "cvlc")
	home := t.TempDir()
	if err := os.Chmod(home, 0o777); err != nil {
		t.Fatal(err)
	}
	args := []string{"-vv", "--intf", "dummy", "--vout", "dummy", "--aout", "dummy", "--no-video-title-show",
		"--run-time", strconv.Itoa(int(d.Seconds())), "--play-and-exit", url}
	name := "cvlc"
	if os.Geteuid() == 0 {
		name, args = "runuser", append([]string{"-u", "nobody", "--", "env", "HOME=" + home, "cvlc"}, args...)
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// CheckTakeOver kills first, the publisher of path, 3 s into a 9 s ffmpeg play of path over
// RTMP, starts the next publisher with second a second later, and fails unless the player
// goes on through the outage: no error, no warning, pictures all the way but for the outage,
// no stall longer than it.
func CheckTakeOver(t *testing.T, s *Server, path string, first *Proc, second func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const window = 9 * time.Second
	result := make(chan Decode, 1)
	go func() { result <- FFmpegDecode(ctx, t, s.URL(path), window) }()
	time.Sleep(3 * time.Second)
	stream, err := s.Relays.Lookup(path)
	if err != nil {
		t.Fatal(err)
	}
	first.Kill() // the encoder drops without a goodbye
	killed, before := time.Now(), stream.Stats().Frames
	time.Sleep(time.Second)
	second()
	for stream.Stats().Frames <= before+1 {
		if time.Since(killed) > 10*time.Second {
			t.Fatal("the second publisher's frames never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	outage := time.Since(killed)
	d := <-result
	if w := DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 {
		t.Fatalf("player: exit %v, warnings:\n%s", d.Err, strings.Join(w, "\n"))
	}
	// The timeline runs on through the outage, so the window holds the outage too.
	if want := MinFrames(window - outage); d.Frames < want {
		t.Errorf("player decoded %d frames, want ≥ %d", d.Frames, want)
	}
	if stall := d.LongestStall(time.Hour); stall > outage+time.Second {
		t.Errorf("longest stall %v, want no longer than the %v outage (+1 s)", stall, outage)
	}
	t.Logf("outage %v, longest stall %v, %d frames", outage, d.LongestStall(time.Hour), d.Frames)
}

// GoBuild compiles a command of this module (a package path such as
// "github.com/relaycast/relaycast/cmd/relaycast-bench") into the test's temporary directory,
// without the race detector the tests may run under: a load tool so built costs the machine
// what it does in a benchmark.
func GoBuild(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
