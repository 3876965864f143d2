package ladder

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
)

// transcoder is one running rung: an ffmpeg process at a time, fed the main stream's
// pictures, whose output it publishes as the rendition, with the main stream's sound.
type transcoder struct {
	m          *Manager
	main       *relay.Stream
	path       string
	rung       Rung
	encoder    string
	ffmpeg     string
	closeAfter time.Duration
	log        *slog.Logger

	// pictured: ffmpeg's first picture went out. Sound waits for it, so the rendition's
	// outputs, which take the tracks a stream shows first, see its picture track.
	pictured  atomic.Bool
	pictureAt atomic.Int64 // when it did (Unix ns)
	started   time.Time

	mu    sync.Mutex
	proc  *os.Process   // running now; nil: none
	spent time.Duration // CPU of the processes that ended
}

// errTrackChanged ends one process when the source's pictures change settings (a new
// publisher): ffmpeg's input has one set for good.
var errTrackChanged = errors.New("source video track changed")

func (t *transcoder) run(ctx context.Context) {
	pub, err := t.m.relays.PublishRendition(t.main, t.rung.Label())
	if err != nil {
		t.m.relays.DemandFailed(t.path, err)
		t.log.Warn("rung not started", "err", err)
		return
	}
	pub.SetProtocol("ladder")
	defer pub.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { t.stopWhenUnwatched(ctx, cancel) })
	t.log.Info("rung started")
	for ctx.Err() == nil {
		err := t.once(ctx, pub)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, relay.ErrEnded):
			t.log.Info("rung stopped: the stream ended")
			return
		case errors.Is(err, errTrackChanged):
			t.log.Info("rung restarts: the source's pictures changed")
		default:
			t.log.Warn("rung failed, restarting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// stopWhenUnwatched ends the rung once nobody has watched it for closeAfter.
func (t *transcoder) stopWhenUnwatched(ctx context.Context, cancel context.CancelFunc) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !t.m.wanted(t) {
				t.log.Info("rung stopped: no viewers", "after", t.closeAfter)
				cancel()
				return
			}
		}
	}
}

// once runs one ffmpeg process from the main stream's latest keyframe until ctx ends, the
// source's pictures change or something fails.
func (t *transcoder) once(ctx context.Context, pub *relay.Publisher) error {
	r := t.main.NewReader()
	defer r.Close()
	first, err := t.firstPicture(ctx, r, pub)
	if err != nil {
		return err
	}
	base := first.DTS // ffmpeg sees time from here, so its 33-bit clock starts small
	cmd := exec.CommandContext(ctx, t.ffmpeg, ffmpegArgs(t.rung, t.encoder)...)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr tail
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	t.setProc(cmd.Process)
	outDone := make(chan error, 1)
	go func() { outDone <- t.output(stdout, pub, base-format.TSOffset) }()
	in := bufio.NewWriterSize(stdin, 64<<10)
	err = t.input(ctx, r, in, pub, first, format.TSOffset-base)
	_ = stdin.Close()
	outErr := <-outDone
	waitErr := cmd.Wait()
	t.endProc(cmd.ProcessState)
	switch {
	case err != nil:
		return err
	case outErr != nil && !errors.Is(outErr, io.EOF):
		return fmt.Errorf("ffmpeg output: %w (%s)", outErr, stderr.String())
	case waitErr != nil:
		return fmt.Errorf("ffmpeg: %w (%s)", waitErr, stderr.String())
	}
	return errors.New("ffmpeg ended")
}

// firstPicture reads up to the first picture (a keyframe, where a reader starts), handing
// the sound before it to the rendition.
func (t *transcoder) firstPicture(ctx context.Context, r *relay.Reader, pub *relay.Publisher) (*relay.Frame, error) {
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return nil, err
		}
		if f.Track.Codec.IsVideo() {
			return f, nil
		}
		if err := t.writeSound(pub, f); err != nil {
			return nil, err
		}
	}
}

// writeSound gives the rendition the main stream's sound frame (the payload is shared),
// once it has a picture.
func (t *transcoder) writeSound(pub *relay.Publisher, f *relay.Frame) error {
	if !t.pictured.Load() {
		return nil
	}
	return pub.WriteFrame(&relay.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload})
}

// input feeds ffmpeg the main stream's pictures as MPEG-TS, offset onto its clock, and the
// rendition its sound.
func (t *transcoder) input(ctx context.Context, r *relay.Reader, in *bufio.Writer, pub *relay.Publisher, first *relay.Frame, offset time.Duration) error {
	video := first.Track
	tw, err := format.NewTSWriter(in, video, nil, offset)
	if err != nil {
		return err
	}
	for f := first; ; {
		switch {
		case !f.Track.Codec.IsVideo():
			if err := t.writeSound(pub, f); err != nil {
				return err
			}
		case f.Track != video:
			return errTrackChanged
		default:
			if err := tw.Write(f.Track.Codec, f.DTS, f.PTS, f.Payload); err != nil {
				return err
			}
			if err := in.Flush(); err != nil {
				return fmt.Errorf("ffmpeg input: %w", err)
			}
		}
		if f, err = r.Next(ctx); err != nil {
			return err
		}
	}
}

// output publishes ffmpeg's pictures, moved back onto the main stream's timeline by shift.
func (t *transcoder) output(stdout io.Reader, pub *relay.Publisher, shift time.Duration) error {
	x, err := ingest.NewMPEGTS(stdout, shifted{pub, shift, t})
	if err != nil {
		_, _ = io.Copy(io.Discard, stdout)
		return err
	}
	x.Live = true
	for {
		if err := x.Read(); err != nil {
			_, _ = io.Copy(io.Discard, stdout)
			return err
		}
	}
}

type shifted struct {
	pub   *relay.Publisher
	shift time.Duration
	t     *transcoder
}

func (s shifted) WriteFrame(f *relay.Frame) error {
	f.DTS += s.shift
	f.PTS += s.shift
	if err := s.pub.WriteFrame(f); err != nil {
		return err
	}
	if !s.t.pictured.Load() {
		s.t.pictureAt.Store(time.Now().UnixNano())
		s.t.pictured.Store(true)
	}
	return nil
}

func (shifted) SetMetadata([]byte) {}

func (t *transcoder) setProc(p *os.Process) {
	t.mu.Lock()
	t.proc = p
	t.mu.Unlock()
}

func (t *transcoder) endProc(st *os.ProcessState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.proc = nil
	if st != nil {
		t.spent += st.UserTime() + st.SystemTime()
	}
}

// cpu is the CPU time the rung's processes have used, the running one's included.
func (t *transcoder) cpu() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.spent
	if t.proc != nil {
		d += procCPU(t.proc.Pid)
	}
	return d
}

// procCPU reads a running process's user and system time from /proc (Linux; zero
// elsewhere), in the kernel's clock ticks of 10 ms.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// the fields after the command name (in parentheses, which may hold spaces): state is
	// the 3rd field of the line, utime the 14th, stime the 15th
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// tail keeps the last KiB of what ffmpeg says, for the log.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 1024 {
		t.b = t.b[len(t.b)-1024:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
