package rtmp_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
)

func TestFFprobeSeesH264720pAndAAC(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/probe"))
	testenv.WaitLive(t, srv, "live/probe", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := testenv.FFprobeStreams(ctx, t, srv.URL("live/probe"))
	if !slices.Equal(got, []string{"h264 1280x720", "aac"}) {
		t.Fatalf("ffprobe streams = %q, want h264 1280x720 and aac", got)
	}
}

func TestTwoPlayersJoiningMidStreamDecodeEveryFrameCleanly(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/two"))
	testenv.WaitLive(t, srv, "live/two", 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // join mid-GOP: keyframes are 1 s apart
	const window = 6 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	results := make([]testenv.Decode, 2)
	for i := range results {
		wg.Go(func() { results[i] = testenv.FFmpegDecode(ctx, t, srv.URL("live/two"), window) })
	}
	wg.Wait()
	for i, d := range results {
		if d.Err != nil || d.Stderr != "" {
			t.Errorf("player %d: exit %v, stderr:\n%s", i, d.Err, d.Stderr)
		}
		if d.Frames < testenv.MinFrames(window) {
			t.Errorf("player %d decoded %d frames of %v, want ≥ %d", i, d.Frames, window, testenv.MinFrames(window))
		}
		// It starts on the GOP cache (≤ 1 s ahead of real time), then follows live.
		if d.Elapsed > window+3*time.Second {
			t.Errorf("player %d took %v for %v of media: not live", i, d.Elapsed, window)
		}
	}
}

func TestPlayOfStreamThatIsNotLiveAnswersStreamNotFound(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := rtmp.Play(ctx, srv.URL("live/nobody"), rtmp.PlayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for {
		m, err := p.Next()
		if err != nil {
			t.Fatalf("connection ended before a status: %v", err)
		}
		if m.Kind == rtmp.StatusMsg {
			if m.Code != "NetStream.Play.StreamNotFound" || m.Level != "error" {
				t.Fatalf("status %s %s, want error NetStream.Play.StreamNotFound", m.Level, m.Code)
			}
			return
		}
	}
}

func TestSecondPublisherIsRefusedAndFirstKeepsFlowing(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	first := testenv.PublishSample(t, srv.URL("live/one"))
	testenv.WaitLive(t, srv, "live/one", 10*time.Second)
	second := testenv.PublishSample(t, srv.URL("live/one"))
	if err := second.Wait(10 * time.Second); err == nil {
		t.Fatal("second publisher exited cleanly; want it refused")
	}
	if !strings.Contains(second.Stderr(), "already being published") {
		t.Errorf("second publisher's stderr does not say why:\n%s", second.Stderr())
	}
	if first.Exited() {
		t.Fatalf("first publisher stopped: %s", first.Stderr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := testenv.FFmpegDecode(ctx, t, srv.URL("live/one"), 2*time.Second)
	if d.Err != nil || d.Frames < testenv.MinFrames(2*time.Second) {
		t.Fatalf("player after the refusal: %d frames, exit %v\n%s", d.Frames, d.Err, d.Stderr)
	}
}

func TestPublisherReturningWithinGraceKeepsPlayerRunning(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.Grace = 5 * time.Second
	srv := testenv.Start(t, testenv.Options{Relay: cfg})
	first := testenv.PublishSample(t, srv.URL("live/back"))
	testenv.WaitLive(t, srv, "live/back", 10*time.Second)
	testenv.CheckTakeOver(t, srv, "live/back", first, func() { testenv.PublishSample(t, srv.URL("live/back")) })
}

func TestPublisherLeavingEndsPlayersCleanly(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.Grace = 500 * time.Millisecond
	srv := testenv.Start(t, testenv.Options{Relay: cfg})
	pub := testenv.PublishSample(t, srv.URL("live/bye"))
	testenv.WaitLive(t, srv, "live/bye", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	result := make(chan testenv.Decode, 1)
	go func() { result <- testenv.FFmpegDecode(ctx, t, srv.URL("live/bye"), time.Minute) }()
	time.Sleep(2 * time.Second)
	pub.Kill()
	ended := time.Now()
	d := <-result
	if d.Err != nil || d.Stderr != "" {
		t.Fatalf("player did not end cleanly: exit %v, stderr:\n%s", d.Err, d.Stderr)
	}
	if took := time.Since(ended); took > cfg.Grace+3*time.Second {
		t.Errorf("player ended %v after the publisher, want about the %v grace", took, cfg.Grace)
	}
	if d.Frames < testenv.MinFrames(2*time.Second) {
		t.Errorf("player decoded only %d frames", d.Frames)
	}
}

func TestVLCPlaysRTMP(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/vlc"))
	testenv.WaitLive(t, srv, "live/vlc", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	log, err := testenv.VLCPlay(ctx, t, srv.URL("live/vlc"), 5*time.Second)
	if err != nil {
		t.Fatalf("cvlc: %v\n%s", err, log)
	}
	testenv.CheckVLCDecoded(t, log)
	if played := time.Since(start); played < 5*time.Second {
		t.Errorf("VLC stopped after %v, want 5 s of play", played)
	}
}

// TestTimestampsOfAJoiningPlayerStrictlyIncrease reads, at the RTMP level, what a player that
// joins mid-GOP gets for 8 s, across the publisher's loop point: the GOP-cache burst, audio
// riding with video and the loop must never give two pictures the same decode or
// presentation time, nor step back.
func TestTimestampsOfAJoiningPlayerStrictlyIncrease(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/ts"))
	testenv.WaitLive(t, srv, "live/ts", 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // mid-GOP: keyframes are 1 s apart
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := rtmp.Play(ctx, srv.URL("live/ts"), rtmp.PlayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var (
		lastDTS, lastAudio int64 = -1, -1
		pts                      = map[int64]bool{}
		pictures           int
	)
	for pictures < 8*30 {
		m, err := p.Next()
		if err != nil {
			t.Fatalf("after %d pictures: %v", pictures, err)
		}
		ts := int64(m.Timestamp)
		switch {
		case m.Kind == rtmp.VideoMsg && len(m.Body) >= 5 && m.Body[1] == 1: // AVC NAL units
			cts := int64(int32(uint32(m.Body[2])<<16|uint32(m.Body[3])<<8|uint32(m.Body[4]))<<8) >> 8
			if ts <= lastDTS {
				t.Fatalf("picture %d: DTS %d ms after %d ms", pictures, ts, lastDTS)
			}
			if pts[ts+cts] {
				t.Fatalf("picture %d: PTS %d ms given twice", pictures, ts+cts)
			}
			lastDTS, pts[ts+cts] = ts, true
			pictures++
		case m.Kind == rtmp.AudioMsg && len(m.Body) >= 2 && m.Body[1] == 1: // AAC raw
			if ts < lastAudio {
				t.Fatalf("audio steps back: %d ms after %d ms", ts, lastAudio)
			}
			lastAudio = ts
		}
	}
}
