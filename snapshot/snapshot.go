// Package snapshot serves a still picture of each live stream (JPEG), decoded from its
// latest keyframe by an ffmpeg process: at most one decode per stream and size a second,
// however many ask (the index page's thumbnails, operators' dashboards); requests in between
// get the last picture.
package snapshot

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// Every is how long a picture serves before the next request decodes a new one.
const Every = time.Second

// ErrNoFFmpeg is why there are no pictures on a machine without ffmpeg.
var ErrNoFFmpeg = errors.New("snapshots need ffmpeg, which is not on the PATH")

// ErrNoVideo is why a stream without a picture (sound alone, or not yet a keyframe) has none.
var ErrNoVideo = errors.New("the stream has no picture to show yet")

// Maker makes and keeps the pictures. Its methods are safe for concurrent use.
type Maker struct {
	ffmpeg  string // its path; "": none
	decodes atomic.Uint64
	mu      sync.Mutex
	kept    map[key]*picture
}

type key struct {
	path  string
	width int
}

// picture is one stream's latest JPEG at one width; ready is closed once made.
type picture struct {
	ready chan struct{}
	at    time.Time
	jpeg  []byte
	err   error
}

// New returns a Maker using the ffmpeg on the PATH, if any.
func New() *Maker {
	m := &Maker{kept: map[key]*picture{}}
	m.ffmpeg, _ = exec.LookPath("ffmpeg")
	return m
}

// Ready says whether pictures can be made (ffmpeg is there).
func (m *Maker) Ready() bool { return m.ffmpeg != "" }

// Decodes is how many pictures were decoded so far.
func (m *Maker) Decodes() uint64 { return m.decodes.Load() }

// JPEG returns s's picture from its latest keyframe, width pixels wide (0: as it is), made
// at most Every ago; a request while one is being made waits for it.
func (m *Maker) JPEG(ctx context.Context, s *relay.Stream, width int) ([]byte, time.Time, error) {
	if m.ffmpeg == "" {
		return nil, time.Time{}, ErrNoFFmpeg
	}
	k := key{s.Path(), width}
	m.mu.Lock()
	p := m.kept[k]
	if p == nil || p.done() && time.Since(p.at) >= Every {
		p = &picture{ready: make(chan struct{})}
		m.kept[k] = p
		m.prune()
		m.mu.Unlock()
		m.make(s, width, p)
	} else {
		m.mu.Unlock()
	}
	select {
	case <-p.ready:
		return p.jpeg, p.at, p.err
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
}

func (p *picture) done() bool {
	select {
	case <-p.ready:
		return true
	default:
		return false
	}
}

// maxKept bounds the pictures kept: streams and widths beyond it are made again.
const maxKept = 1000

// prune forgets the old pictures when there are too many. Called with mu held.
func (m *Maker) prune() {
	if len(m.kept) <= maxKept {
		return
	}
	for k, p := range m.kept {
		if p.done() && time.Since(p.at) > time.Minute {
			delete(m.kept, k)
		}
	}
}

// make decodes p from s's latest keyframe; every waiter is let go at its end.
func (m *Maker) make(s *relay.Stream, width int, p *picture) {
	defer close(p.ready)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	format, data, err := keyframe(ctx, s)
	if err == nil {
		m.decodes.Add(1)
		p.jpeg, err = m.decode(ctx, format, data, width)
	}
	p.at, p.err = time.Now(), err
}

// keyframe reads s's latest keyframe (a reader starts there) as a file ffmpeg reads alone:
// Annex B for H.264 and H.265 (with the parameter sets), IVF for AV1 and VP9.
func keyframe(ctx context.Context, s *relay.Stream) (string, []byte, error) {
	r := s.NewReader()
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return "", nil, ErrNoVideo
		}
		if !f.Track.Codec.IsVideo() || !f.Key {
			continue
		}
		switch t := f.Track; t.Codec {
		case relay.CodecH264, relay.CodecH265:
			c, err := codec.ParseNALConfig(t)
			if err != nil {
				return "", nil, err
			}
			nalus, err := c.AccessUnit(nil, f.Payload)
			if err != nil {
				return "", nil, err
			}
			var b bytes.Buffer
			for _, n := range nalus {
				b.Write([]byte{0, 0, 0, 1})
				b.Write(n)
			}
			return map[relay.Codec]string{relay.CodecH264: "h264", relay.CodecH265: "hevc"}[t.Codec], b.Bytes(), nil
		case relay.CodecAV1:
			c, err := codec.ParseAV1Config(t.Config)
			if err != nil {
				return "", nil, err
			}
			// the sequence header first: a keyframe's temporal unit need not repeat it
			return "ivf", ivf("AV01", t.Width, t.Height, append(bytes.Clone(c.SequenceHeader), f.Payload...)), nil
		case relay.CodecVP9:
			return "ivf", ivf("VP90", t.Width, t.Height, f.Payload), nil
		default:
			return "", nil, fmt.Errorf("no pictures of %s yet", t.Codec)
		}
	}
}

// ivf is an IVF file of one frame.
func ivf(fourcc string, width, height int, frame []byte) []byte {
	b := make([]byte, 32+12, 32+12+len(frame))
	copy(b, "DKIF")
	binary.LittleEndian.PutUint16(b[4:], 0)
	binary.LittleEndian.PutUint16(b[6:], 32)
	copy(b[8:], fourcc)
	binary.LittleEndian.PutUint16(b[12:], uint16(width))
	binary.LittleEndian.PutUint16(b[14:], uint16(height))
	binary.LittleEndian.PutUint32(b[16:], 30)
	binary.LittleEndian.PutUint32(b[20:], 1)
	binary.LittleEndian.PutUint32(b[24:], 1)
	binary.LittleEndian.PutUint32(b[32:], uint32(len(frame)))
	return append(b, frame...)
}

// decode has ffmpeg turn one keyframe into a JPEG.
func (m *Maker) decode(ctx context.Context, format string, data []byte, width int) ([]byte, error) {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-f", format, "-i", "pipe:0", "-frames:v", "1"}
	if width > 0 {
		args = append(args, "-vf", "scale="+strconv.Itoa(width)+":-2")
	}
	args = append(args, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "4", "pipe:1")
	cmd := exec.CommandContext(ctx, m.ffmpeg, args...)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil || out.Len() == 0 {
		return nil, fmt.Errorf("snapshot: ffmpeg: %v %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out.Bytes(), nil
}
