package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/testkit/ertmpclient"
	"github.com/relaycast/relaycast/relay"
)

// Rendition is one encoding of a ladder: its height and video bitrate.
type Rendition struct {
	Width, Height int
	Kbps          int
}

// Ladder is a usual three-rung ladder of a 720p source.
var Ladder = []Rendition{{1280, 720, 2500}, {854, 480, 1200}, {640, 360, 600}}

// RenditionFrames encodes d seconds of one moving picture (testsrc2, 30 fps) at each of
// rungs, with keyframes every second at the same pictures in each, as an encoder's
// renditions are, and returns each rung's pictures and the sound (AAC).
func RenditionFrames(t testing.TB, d int, rungs []Rendition) (video [][]*relay.Frame, audio []*relay.Frame) {
	t.Helper()
	return renditionFrames(t, d, rungs, 2)
}

// renditionFrames is RenditionFrames with up to bframes B-frames in a row.
func renditionFrames(t testing.TB, d int, rungs []Rendition, bframes int) (video [][]*relay.Frame, audio []*relay.Frame) {
	t.Helper()
	NeedTools(t, "ffmpeg")
	dir := t.TempDir()
	graph := fmt.Sprintf("testsrc2=size=1280x720:rate=30:duration=%d,format=yuv420p,split=%d", d, len(rungs))
	for i := range rungs {
		graph += fmt.Sprintf("[s%d]", i)
	}
	for i, r := range rungs {
		graph += fmt.Sprintf(";[s%d]scale=%d:%d[v%d]", i, r.Width, r.Height, i)
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-filter_complex", graph,
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", d)}
	for i, r := range rungs {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i))
		if i == 0 {
			args = append(args, "-map", "0:a", "-c:a", "aac", "-b:a", "96k")
		}
		args = append(args, "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", strconv.Itoa(bframes),
			"-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
			"-b:v", fmt.Sprintf("%dk", r.Kbps), "-maxrate", fmt.Sprintf("%dk", r.Kbps), "-bufsize", fmt.Sprintf("%dk", r.Kbps),
			"-f", "mpegts", filepath.Join(dir, fmt.Sprintf("r%d.ts", i)))
	}
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("encode the renditions: %v\n%s", err, b)
	}
	for i := range rungs {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("r%d.ts", i)))
		if err != nil {
			t.Fatal(err)
		}
		var out frameList
		x, err := ingest.NewMPEGTS(bytes.NewReader(b), &out)
		if err != nil {
			t.Fatal(err)
		}
		for x.Read() == nil {
		}
		var pictures []*relay.Frame
		for _, f := range out.frames {
			switch {
			case f.Track.Codec.IsVideo():
				pictures = append(pictures, f)
			case i == 0:
				audio = append(audio, f)
			}
		}
		video = append(video, pictures)
	}
	return video, audio
}

// PublishLadder publishes d seconds of Ladder's three renditions, looped, to path in one
// enhanced RTMP multitrack connection (as OBS's multitrack streaming does) until the test
// ends, and waits for the lowest to be live.
func PublishLadder(t testing.TB, s *Server, path string) {
	t.Helper()
	publishLadder(t, s, path, 2)
}

// PublishLadderWithoutBFrames is PublishLadder without B-frames, as WebRTC players need.
func PublishLadderWithoutBFrames(t testing.TB, s *Server, path string) {
	t.Helper()
	publishLadder(t, s, path, 0)
}

func publishLadder(t testing.TB, s *Server, path string, bframes int) {
	t.Helper()
	video, audio := renditionFrames(t, 10, Ladder, bframes)
	ctx, cancel := context.WithCancel(context.Background())
	published := make(chan error, 1)
	go func() { published <- ertmpclient.PublishRenditions(ctx, s.URL(path), video, audio) }()
	t.Cleanup(func() {
		cancel()
		if err := <-published; err != nil {
			t.Errorf("multitrack publish: %v", err)
		}
	})
	WaitLive(t, s, fmt.Sprintf("%s%s%d", path, relay.RenditionSep, len(Ladder)-1), 15*time.Second)
}
