package vod_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/rtmp"
)

// ffmpeg -ss over RTMP sends a seek after play: it gets the file from the keyframe before the
// position and decodes from there with no warning. ffprobe reads the duration from the
// onMetaData the server writes for a file.
func TestRTMPSeekWithFFmpeg(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = mediaDirWithClip(t) }})
	url := srv.URL("vod/clip")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url).Output()
	if sec, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err != nil || sec < 5.5 || sec > 6.5 {
		t.Errorf("ffprobe duration over RTMP %q (%v), want 6 s", out, err)
	}
	d := testenv.FFmpegDecode(ctx, t, url, time.Minute, "-loglevel", "warning", "-ss", "3.5")
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 {
		t.Fatalf("exit %v, warnings:\n%s", d.Err, strings.Join(w, "\n"))
	}
	// As over RTSP: 2.5 s follow 3.5 s, 75 pictures; the whole file would be 180.
	if d.Frames < 72 || d.Frames > 80 {
		t.Fatalf("%d pictures after -ss 3.5 in a 6 s file, want about 75", d.Frames)
	}
}

// A stored file's RTMP timestamps are the file's own: play from 3.5 s starts at the keyframe
// at 3 s stamped 3000; a seek answers NetStream.Seek.Notify and goes on from the keyframe
// before the position; a pause stops the media after the lead already sent, and an unpause
// goes on from the position it gives.
func TestRTMPPlayFromSeekAndPauseKeepTheFilesTimeline(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = mediaDirWithClip(t) }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := rtmp.Play(ctx, srv.URL("vod/clip"), rtmp.PlayOptions{Start: 3500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_ = p.Conn().SetReadDeadline(time.Now().Add(20 * time.Second))
	// firstPicture reads up to the next coded picture (not a sequence header) after the
	// status code want, and returns its timestamp and whether it is a keyframe.
	firstPicture := func(want string) (uint32, bool) {
		t.Helper()
		seen := want == ""
		for {
			m, err := p.Next()
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			switch {
			case m.Kind == rtmp.StatusMsg && m.Code == want:
				seen = true
			case m.Kind == rtmp.StatusMsg && m.Level == "error":
				t.Fatalf("%s: %s", m.Code, m.Body)
			case seen && m.Kind == rtmp.VideoMsg && len(m.Body) > 1 && m.Body[1] == 1:
				return m.Timestamp, m.Body[0]>>4 == 1
			}
		}
	}
	check := func(what string, ts uint32, key bool, keyframe uint32) {
		t.Helper()
		if !key || ts != keyframe {
			t.Fatalf("%s: first picture at %d ms (key %v), want the keyframe at %d", what, ts, key, keyframe)
		}
	}
	ts, key := firstPicture("NetStream.Play.Start")
	check("play from 3.5 s", ts, key, 3000)

	if err := p.Seek(1500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ts, key = firstPicture("NetStream.Seek.Notify")
	check("seek to 1.5 s", ts, key, 1000)

	if err := p.Pause(true, 1200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := p.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind == rtmp.StatusMsg && m.Code == "NetStream.Pause.Notify" {
			break
		}
	}
	// What was sent before the pause (the lead, half a second) may still come; then nothing.
	drainUntil := time.Now().Add(800 * time.Millisecond)
	_ = p.Conn().SetReadDeadline(drainUntil)
	for {
		if _, err := p.Next(); err != nil {
			break
		}
	}
	_ = p.Conn().SetReadDeadline(time.Now().Add(time.Second))
	if m, err := p.Next(); err == nil {
		t.Fatalf("paused, the server still sent a message (kind %d at %d ms)", m.Kind, m.Timestamp)
	}
	// The read deadline broke the chunk reader's stream: unpause on a new player.
	p.Close()
	p, err = rtmp.Play(ctx, srv.URL("vod/clip"), rtmp.PlayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_ = p.Conn().SetReadDeadline(time.Now().Add(20 * time.Second))
	ts, key = firstPicture("NetStream.Play.Start")
	check("play from the start", ts, key, 0)
	if err := p.Pause(true, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := p.Pause(false, 2500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ts, key = firstPicture("NetStream.Unpause.Notify")
	check("unpause at 2.5 s", ts, key, 2000)
}

// VLC plays a stored file over RTMP: it finds both codecs and decodes with no error.
func TestVLCPlaysAStoredFileOverRTMP(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = mediaDirWithClip(t) }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log, err := testenv.VLCPlay(ctx, t, srv.URL("vod/clip"), 4*time.Second)
	if err != nil {
		t.Fatalf("cvlc: %v\n%s", err, log)
	}
	testenv.CheckVLCDecoded(t, log)
}
