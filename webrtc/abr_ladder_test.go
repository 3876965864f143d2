package webrtc_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/ladder"
)

// A WHEP player of a 2 Mbit/s stream with a ladder (one 360p rung, made here and only when
// watched) whose link narrows to 1 Mbit/s is switched to the rung, which starts for it
// and runs while it is sent:
// at a keyframe of the rung (which lags the source by its encoder), with the picture's
// RTP timestamps never stepping back and its sequence unbroken, and ffmpeg decodes the
// whole picture, 720p then 360p, without a warning. pion's default interceptors send the
// transport-wide feedback, as browsers do.
func TestWHEPViewerIsSwitchedToALadderRungItsLinkCarries(t *testing.T) {
	srv, link := testenv.StartBehindLink(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Paths = map[string]conf.Path{"live/lad": {Renditions: []string{"360p@400k"}}}
		c.LadderEncoder, c.LadderCloseAfter = ladder.EncoderX264, 2*time.Second
	}})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/lad"))
	testenv.WaitLive(t, srv, "live/lad", 10*time.Second)

	m := &pwebrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	p, offer := newPeerWith(t, m, nil, pwebrtc.RTPCodecTypeVideo)
	var order rtpOrder
	p.onVideo = order.note
	// The offer without the player's candidates: the server learns its address from the
	// checks that come through the link, and sends there.
	p.play(t, srv.HTTPURL("/live/lad/whep"), regexp.MustCompile(`a=candidate[^\r\n]*\r\n`).ReplaceAllString(offer, ""))
	time.Sleep(4 * time.Second)
	if _, down := link.Stats(); down.Passed < 300 {
		t.Fatalf("the server's packets did not go through the link: %+v", down)
	}
	if st := srv.Ladder.Stats(); len(st) != 0 {
		t.Fatalf("a rung runs for a viewer whose link carries the stream: %+v", st)
	}
	link.SetLinks(testenv.Link{}, testenv.Link{Rate: 1_000_000})
	srv.WaitLog(t, 20*time.Second, "webrtc layer", "to=live/lad~360p")
	// The rung's pictures: the player's sample builder gives up a packet the link lost only
	// 512 packets later.
	time.Sleep(8 * time.Second)
	if st := srv.Ladder.Stats(); len(st) != 1 || !st[0].Running {
		t.Errorf("the rung the viewer is sent is not running (it stops 2 s after its last viewer): %+v", st)
	}
	p.pc.Close()

	order.check(t)
	p.mu.Lock()
	stream := append([]byte(nil), p.h264.Bytes()...)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if warnings, _, err := testenv.DecodeStream(ctx, "h264", stream); err != nil || len(warnings) > 0 {
		t.Fatalf("ffmpeg: %v, warnings:\n%s", err, strings.Join(warnings, "\n"))
	}
	sizes := frameSizes(ctx, t, stream)
	t.Logf("pictures by size: %v", sizes)
	if sizes["1280x720"] < 60 || sizes["640x360"] < 60 {
		t.Errorf("pictures by size %v, want both 720p and 360p", sizes)
	}
}

// rtpOrder checks a track's packets as they come: sequence numbers unbroken (but for the
// link's losses) and timestamps that never step back.
type rtpOrder struct {
	mu      sync.Mutex
	started bool
	seq     uint16
	ts      uint32
	back    []string
	packets int
}

func (o *rtpOrder) note(seq uint16, ts uint32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.packets++
	if o.started && int16(seq-o.seq) <= 0 {
		return // a resent packet
	}
	if o.started && int32(ts-o.ts) < 0 {
		o.back = append(o.back, fmt.Sprintf("seq %d: timestamp %d after %d", seq, ts, o.ts))
	}
	if o.started && seq-o.seq > 200 {
		o.back = append(o.back, fmt.Sprintf("sequence jumps from %d to %d", o.seq, seq))
	}
	o.started, o.seq, o.ts = true, seq, ts
}

func (o *rtpOrder) check(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.packets < 500 || len(o.back) > 0 {
		t.Errorf("%d packets; out of order: %v", o.packets, o.back)
	}
}

// frameSizes counts the pictures of a raw H.264 stream by size, as ffprobe reads them.
func frameSizes(ctx context.Context, t *testing.T, stream []byte) map[string]int {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-f", "h264", "-i", "-",
		"-show_entries", "frame=width,height", "-of", "csv=p=0:s=x")
	cmd.Stdin = bytes.NewReader(stream)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	sizes := map[string]int{}
	for _, l := range strings.Fields(string(out)) {
		sizes[l]++
	}
	return sizes
}
