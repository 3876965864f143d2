package rtmp_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
)

// A synthetic 25 fps stream with 50 audio frames a second: timestamps are whole milliseconds,
// and each payload starts with its frame number, so a player can check order and timing.
const (
	fanVideoStep = 40 * time.Millisecond
	fanAudioStep = 20 * time.Millisecond
	fanGOP       = 25
)

var (
	fanVideo = &relay.Track{Codec: relay.CodecH264, ClockRate: 90000, Config: []byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 1, 0x67, 1, 0, 1, 0x68}}
	fanAudio = &relay.Track{Codec: relay.CodecAAC, ClockRate: 44100, Config: []byte{0x12, 0x10}}
)

func fanPayload(n, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, uint32(n))
	return b
}

// fanPlayer is what one Go player saw.
type fanPlayer struct {
	video, audio []int           // frame numbers in arrival order
	keys         map[int]bool    // video frame numbers that came flagged as keyframes
	lastVideoAt  time.Time       // arrival of the last video frame
	err          error           // a protocol or timing error
	skippedTo    []int           // video frame numbers right after a gap
	stall        func(frame int) // called after each video frame
}

func (f *fanPlayer) play(ctx context.Context, url string, opt rtmp.PlayOptions) {
	p, err := rtmp.Play(ctx, url, opt)
	if err != nil {
		f.err = err
		return
	}
	defer p.Close()
	f.keys = map[int]bool{}
	started := false
	configs := map[rtmp.MessageKind]bool{}
	for {
		m, err := p.Next()
		if err != nil {
			f.err = fmt.Errorf("after %d video frames: %w", len(f.video), err)
			return
		}
		switch m.Kind {
		case rtmp.StatusMsg:
			started = started || m.Code == "NetStream.Play.Start"
			if m.Code == "NetStream.Play.UnpublishNotify" {
				return
			}
		case rtmp.VideoMsg, rtmp.AudioMsg:
			if !started {
				f.err = fmt.Errorf("media before NetStream.Play.Start")
				return
			}
			if m.Body[1] == 0 { // sequence header
				configs[m.Kind] = true
				continue
			}
			if !configs[m.Kind] {
				f.err = fmt.Errorf("%v frame before its sequence header", m.Kind)
				return
			}
			if err := f.frame(m); err != nil {
				f.err = err
				return
			}
		}
	}
}

func (f *fanPlayer) frame(m rtmp.Message) error {
	prefix := 2
	step, list := fanAudioStep, &f.audio
	if m.Kind == rtmp.VideoMsg {
		prefix, step, list = 5, fanVideoStep, &f.video
	}
	n := int(binary.BigEndian.Uint32(m.Body[prefix:]))
	if want := uint32(time.Duration(n) * step / time.Millisecond); m.Timestamp != want {
		return fmt.Errorf("%v frame %d: timestamp %d, want %d", m.Kind, n, m.Timestamp, want)
	}
	if k := len(*list); k > 0 && n <= (*list)[k-1] {
		return fmt.Errorf("frame %d after %d: out of order", n, (*list)[k-1])
	} else if k > 0 && n != (*list)[k-1]+1 && m.Kind == rtmp.VideoMsg {
		f.skippedTo = append(f.skippedTo, n)
	}
	*list = append(*list, n)
	if m.Kind == rtmp.VideoMsg {
		f.keys[n] = m.Body[0]>>4 == 1
		f.lastVideoAt = time.Now()
		if f.stall != nil {
			f.stall(n)
		}
	}
	return nil
}

func TestTwoHundredPlayersGetEveryFrameAndAStalledOneHoldsNobodyUp(t *testing.T) {
	rc := relay.DefaultConfig()
	rc.Grace, rc.MaxLag = 0, time.Second
	srv := testenv.Start(t, testenv.Options{Relay: rc, RTMP: rtmp.Config{SendBuffer: 32 << 10}})
	pub, err := srv.Relays.Publish("live/fan")
	if err != nil {
		t.Fatal(err)
	}
	const players, seconds = 200, 6
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	results := make([]*fanPlayer, players)
	var joined, wg sync.WaitGroup
	for i := range results {
		f := &fanPlayer{}
		opt := rtmp.PlayOptions{}
		if i == 0 { // the stalled viewer: stops reading for 4 s after 10 frames
			opt.ReadBuffer = 8 << 10
			f.stall = func(n int) {
				if n == 10 {
					time.Sleep(4 * time.Second)
				}
			}
		}
		results[i] = f
		joined.Add(1)
		wg.Go(func() {
			joined.Done()
			f.play(ctx, srv.URL("live/fan"), opt)
		})
	}
	joined.Wait()
	waitReaders(t, pub.Stream(), players)

	start := time.Now()
	video, audio := 0, 0
	for video < seconds*25 {
		at := time.Duration(video) * fanVideoStep
		if d := time.Until(start.Add(at)); d > 0 {
			time.Sleep(d)
		}
		size := 3000
		if video%fanGOP == 0 {
			size = 15000
		}
		write(t, pub, &relay.Frame{Track: fanVideo, DTS: at, PTS: at, Key: video%fanGOP == 0, Payload: fanPayload(video, size)})
		video++
		for ; time.Duration(audio)*fanAudioStep <= at; audio++ {
			ts := time.Duration(audio) * fanAudioStep
			write(t, pub, &relay.Frame{Track: fanAudio, DTS: ts, PTS: ts, Key: true, Payload: fanPayload(audio, 300)})
		}
	}
	lastAt := time.Now()
	pub.Close()
	wg.Wait()

	for i, f := range results[1:] {
		switch {
		case f.err != nil:
			t.Errorf("player %d: %v", i+1, f.err)
		case len(f.video) != video || len(f.audio) != audio:
			t.Errorf("player %d got %d video and %d audio frames, want %d and %d", i+1, len(f.video), len(f.audio), video, audio)
		case f.lastVideoAt.Sub(lastAt) > 500*time.Millisecond:
			t.Errorf("player %d got the last frame %v after it was published", i+1, f.lastVideoAt.Sub(lastAt))
		}
	}
	slow := results[0]
	if slow.err != nil {
		t.Fatalf("stalled player: %v", slow.err)
	}
	if len(slow.skippedTo) == 0 {
		t.Fatalf("stalled player got %d video frames with no skip; want it dropped to a keyframe", len(slow.video))
	}
	for _, n := range slow.skippedTo {
		if !slow.keys[n] {
			t.Errorf("stalled player resumed at frame %d, which is not a keyframe", n)
		}
	}
	t.Logf("stalled player: %d of %d video frames, resumed at %v", len(slow.video), video, slow.skippedTo)
}

func write(t *testing.T, p *relay.Publisher, f *relay.Frame) {
	t.Helper()
	if err := p.WriteFrame(f); err != nil {
		t.Fatal(err)
	}
}

func waitReaders(t *testing.T, s *relay.Stream, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().Readers < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d players joined", s.Stats().Readers, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Once play is answered, a player holds no go-rtmp session (two goroutines, 70 KiB of buffers
// each) and no goroutine at all: a shard per core writes to its players and reads them.
func TestPlayersLeaveGoRTMPOnceTheyPlay(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/light")
	const players = 100
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	frames := make([]int, players)
	for i := range players {
		p, err := rtmp.Play(ctx, srv.URL("live/light"), rtmp.PlayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer p.Close()
			for ctx.Err() == nil {
				m, err := p.Next()
				if err != nil {
					return
				}
				if m.Kind == rtmp.VideoMsg && m.Body[1] == 1 {
					frames[i]++
				}
			}
		})
		defer p.Close()
	}
	for srv.RTMP.Viewers()["live/light"] < players {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second)
	count := func(stacks []string, frame string) int {
		n := 0
		for _, s := range stacks {
			if strings.Contains(s, frame) {
				n++
			}
		}
		return n
	}
	// A player whose socket fills for a moment (a loaded machine) has a goroutine finish
	// that one write: what must not exist is a goroutine that stays. So the least count over
	// a second of samples is what is checked.
	least := func(frame string) int {
		n := -1
		for range 10 {
			if c := count(goroutineStacks(), frame); n < 0 || c < n {
				n = c
			}
			time.Sleep(100 * time.Millisecond)
		}
		return n
	}
	stacks := goroutineStacks()
	// The test's players use go-rtmp's client; the server's sessions run in handleConn. The
	// demo publishes into the relay directly, so no session should be left.
	if n := least("go-rtmp.(*Server).handleConn"); n != 0 {
		t.Errorf("%d go-rtmp server sessions with %d players playing, want 0", n, players)
	}
	if n := least("rtmp.(*viewer)"); n != 0 {
		t.Errorf("%d goroutines of players, want none", n)
	}
	if n, want := count(stacks, "rtmp.(*shard).run"), runtime.GOMAXPROCS(0); n != want {
		t.Errorf("%d shard goroutines, want %d (one per core)", n, want)
	}
	cancel()
	wg.Wait()
	for i, n := range frames {
		if n < 20 {
			t.Errorf("player %d got %d video frames in over a second", i, n)
		}
	}
}

func goroutineStacks() []string {
	buf := make([]byte, 16<<20)
	return strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
}

// A player that sends deleteStream is done with the stream: the server stops sending and
// hangs up, though the player keeps its connection open.
func TestDeleteStreamEndsThePlayersSession(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishDemo(t, srv, "live/del")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := rtmp.Play(ctx, srv.URL("live/del"), rtmp.PlayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for frames := 0; frames < 30; {
		m, err := p.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind == rtmp.VideoMsg {
			frames++
		}
	}
	if err := p.DeleteStream(); err != nil {
		t.Fatal(err)
	}
	_ = p.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := p.Next(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("still connected 5 s after deleteStream")
			}
			break // the server hung up
		}
	}
	for deadline := time.Now().Add(2 * time.Second); srv.RTMP.Viewers()["live/del"] != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d viewers counted after deleteStream", srv.RTMP.Viewers()["live/del"])
		}
	}
}
