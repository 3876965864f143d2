package webrtc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/relaycast/relaycast/codec"
)

// Browsers play Opus, not AAC: a stream's AAC is turned into Opus once, by one ffmpeg process
// per stream (libopus), while its WebRTC feed runs.

// ffmpeg reads ADTS without timestamps: a gap in the AAC (the end of a looped file's sound, a
// lost frame, a hand-over) would shift all the sound after it against the picture. The
// transcoder notes each gap at the sample it comes before and times the Opus after it that
// much later (the RTP timestamps jump, as the sound did). An AAC frame within maxAACJitter of
// where the previous one ended follows it (timestamps of milliseconds stray that much); one
// further back, or over maxAACGap after it, starts a new transcoder from it.
const (
	maxAACJitter = 100 * time.Millisecond
	maxAACGap    = 5 * time.Second
)

// opusFrame is one Opus packet and where it plays on the source's timeline.
type opusFrame struct {
	pts    time.Duration
	packet []byte
}

// transcoder is one ffmpeg process turning ADTS into Ogg Opus. Its packets come out in
// order, timed from the first AAC frame written (base) by their granule positions.
type transcoder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   chan opusFrame
	done  chan struct{}
	conf  mpeg4audio.AudioSpecificConfig
	base  time.Duration
	next  time.Duration // where the next AAC frame should start
	in    int64         // AAC samples written
	log   *slog.Logger
	once  sync.Once

	mu   sync.Mutex
	gaps []aacGap // in order
}

// aacGap is a gap in the AAC written: the Opus from 48 kHz sample at on plays shift later
// (the gaps before it included).
type aacGap struct {
	at    int64
	shift time.Duration
}

// ffmpegArgs ask for 20 ms packets, one per Ogg page and flushed at once, from ADTS read
// without probing ahead: the least delay ffmpeg and libopus add.
var ffmpegArgs = []string{"-hide_banner", "-loglevel", "error", "-probesize", "32", "-analyzeduration", "0",
	"-fflags", "nobuffer", "-f", "aac", "-i", "pipe:0", "-map", "0:a", "-c:a", "libopus", "-b:a", "128k",
	"-ar", "48000", "-ac", "2", "-frame_duration", "20", "-application", "lowdelay",
	"-f", "ogg", "-page_duration", "20000", "-flush_packets", "1", "pipe:1"}

// newTranscoder starts ffmpeg for AAC of config, whose first frame plays at base.
func newTranscoder(config []byte, base time.Duration, log *slog.Logger) (*transcoder, error) {
	conf, err := codec.ParseAACConfig(config)
	if err != nil {
		return nil, fmt.Errorf("aac to opus: %w", err)
	}
	cmd := exec.Command("ffmpeg", ffmpegArgs...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("aac to opus: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("aac to opus: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("aac to opus: ffmpeg: %w", err)
	}
	t := &transcoder{cmd: cmd, stdin: stdin, out: make(chan opusFrame, 256), done: make(chan struct{}),
		conf: conf, base: base, next: base, log: log}
	go t.read(bufio.NewReader(stdout))
	return t, nil
}

// write hands ffmpeg one AAC frame. It reports false when the frame does not follow the
// previous one: the caller starts a new transcoder from it.
func (t *transcoder) write(pts time.Duration, au []byte) (bool, error) {
	switch d := pts - t.next; {
	case d > maxAACGap || d < -maxAACJitter:
		return false, nil
	case d > maxAACJitter:
		t.mu.Lock()
		shift := d
		if n := len(t.gaps); n > 0 {
			shift += t.gaps[n-1].shift
		}
		t.gaps = append(t.gaps, aacGap{at: t.in * 48000 / int64(t.conf.SampleRate), shift: shift})
		t.mu.Unlock()
	}
	pkt, err := mpeg4audio.ADTSPackets{{Type: t.conf.Type, SampleRate: t.conf.SampleRate,
		ChannelConfig: t.conf.ChannelConfig, AU: au}}.Marshal()
	if err != nil {
		return true, fmt.Errorf("aac to opus: %w", err)
	}
	t.next = pts + codec.Duration(mpeg4audio.SamplesPerAccessUnit, int64(t.conf.SampleRate))
	t.in += mpeg4audio.SamplesPerAccessUnit
	if _, err := t.stdin.Write(pkt); err != nil {
		return true, fmt.Errorf("aac to opus: ffmpeg: %w", err)
	}
	return true, nil
}

// read passes on ffmpeg's packets, timed: a page's granule position is the 48 kHz sample
// count at its end, the encoder's priming (pre-skip) included.
func (t *transcoder) read(r io.Reader) {
	defer close(t.done)
	defer close(t.out)
	ogg, head, err := oggreader.NewWith(r)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			t.log.Warn("aac to opus: ffmpeg's output", "err", err)
		}
		return
	}
	for {
		payload, page, err := ogg.ParseNextPage()
		if err != nil {
			return
		}
		if page.GranulePosition == 0 || len(payload) == 0 || string(payload[:min(8, len(payload))]) == "OpusTags" {
			continue
		}
		end := int64(page.GranulePosition) - int64(head.PreSkip)
		start := end - opus.PacketDuration2(payload)
		if start < 0 {
			continue // priming only
		}
		t.out <- opusFrame{pts: t.base + codec.Duration(start, 48000) + t.shift(start), packet: payload}
	}
}

// shift is how much later than its sample count the Opus from 48 kHz sample at plays: the
// gaps of the AAC before it.
func (t *transcoder) shift(at int64) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for _, g := range t.gaps {
		if g.at > at {
			break
		}
		d = g.shift
	}
	return d
}

// close ends ffmpeg and waits for it; packets not taken are dropped.
func (t *transcoder) close() {
	t.once.Do(func() {
		t.stdin.Close()
		go func() {
			for range t.out { // ffmpeg flushes what it holds: let it
			}
		}()
		timer := time.AfterFunc(2*time.Second, func() { _ = t.cmd.Process.Kill() })
		<-t.done
		_ = t.cmd.Wait()
		timer.Stop()
	})
}
