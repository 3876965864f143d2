package vod_test

import (
	"context"
	"encoding/binary"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// A stored file over RTSP, UDP and TCP: ffprobe reads its codecs and duration (the SDP's
// range), ffmpeg decodes every frame with no warning, in about real time, and stops at the
// end by itself (RTCP BYE).
func TestStoredFilePlaysOverRTSP(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = mediaDirWithClip(t) }})
	url := srv.RTSPURL("vod/clip")
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if got := testenv.FFprobeStreams(ctx, t, url, "-rtsp_transport", transport); !slices.Equal(got, []string{"h264 1280x720", "aac"}) {
				t.Fatalf("ffprobe streams %q", got)
			}
			out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", transport,
				"-show_entries", "format=duration", "-of", "csv=p=0", url).Output()
			if sec, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err != nil || sec < 5.5 || sec > 6.5 {
				t.Errorf("ffprobe duration %q (%v), want 6 s", out, err)
			}
			d := testenv.FFmpegDecode(ctx, t, url, time.Minute, "-loglevel", "warning", "-rtsp_transport", transport)
			if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < 178 {
				t.Fatalf("%d frames, exit %v, warnings:\n%s", d.Frames, d.Err, strings.Join(w, "\n"))
			}
			if d.Elapsed < 4500*time.Millisecond || d.Elapsed > 12*time.Second {
				t.Errorf("6 s of file played in %v: not real time, or no end", d.Elapsed)
			}
		})
	}
}

// ffmpeg -ss over RTSP seeks (PAUSE, then PLAY with a Range): it gets the file from the
// keyframe before the position, decodes from there with no warning, and shows what follows
// the position.
func TestRTSPSeekStartsAtTheKeyframeBeforeThePosition(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = mediaDirWithClip(t) }})
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL("vod/clip"), time.Minute,
				"-loglevel", "warning", "-rtsp_transport", transport, "-ss", "3.5")
			if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 {
				t.Fatalf("exit %v, warnings:\n%s", d.Err, strings.Join(w, "\n"))
			}
			// 2.5 s follow 3.5 s: 75 pictures (ffmpeg drops those between the keyframe at 3 s
			// and 3.5 s); the whole file would be 180, a late start fewer.
			if d.Frames < 72 || d.Frames > 80 {
				t.Fatalf("%d pictures after -ss 3.5 in a 6 s file, want about 75", d.Frames)
			}
		})
	}
}

// PAUSE stops a stored file's packets; PLAY without a range (as ffmpeg and VLC resume)
// goes on where it paused, from the keyframe before, not from the start.
func TestRTSPPauseAndResumeWhereItPaused(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = mediaDirWithClip(t) }})
	p := testenv.DialRTSP(t, srv.RTSPAddr, "vod/clip")
	p.Setup(t, "trackID=0", 0) // the video alone
	play := func(hdr ...string) {
		if res := p.Request(t, "PLAY", hdr...); res.StatusCode != base.StatusOK {
			t.Fatalf("PLAY %v: %d", hdr, res.StatusCode)
		}
	}
	videoTime := func() uint32 { return binary.BigEndian.Uint32(p.NextPacket(t, 0)[4:]) }
	play("Range: npt=0.000-")
	var stamps []uint32
	for start := time.Now(); time.Since(start) < 2500*time.Millisecond; {
		stamps = append(stamps, videoTime())
	}
	if res := p.Request(t, "PAUSE"); res.StatusCode != base.StatusOK {
		t.Fatalf("PAUSE: %d", res.StatusCode)
	}
	_ = p.Conn.SetReadDeadline(time.Now().Add(time.Second))
	if what, err := p.In.Read(); err == nil {
		t.Fatalf("during PAUSE the server sent %T", what)
	}
	play()
	resumed := videoTime()
	at := func(ts uint32) time.Duration { return time.Duration(ts-stamps[0]) * time.Second / 90000 }
	last := stamps[len(stamps)-1]
	// The clip's keyframes are a second apart: resuming starts at most a GOP before.
	if at(resumed) > at(last) || at(last)-at(resumed) > 1100*time.Millisecond || at(resumed) < time.Second {
		t.Fatalf("paused at %v of the file, resumed at %v", at(last), at(resumed))
	}
	t.Logf("paused at %v, resumed at %v", at(last), at(resumed))
}

// A PLAY with a Range while playing (a seek bar dragged) goes on from the keyframe before
// the position, in the same session, and its answer says where: the first packet after it
// has the sequence number RTP-Info names, and a time just after the RTP-Info time (a
// keyframe shows a little after it decodes, with B-frames).
func TestRTSPPlayWithARangeWhilePlayingSeeks(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.MediaDir = mediaDirWithClip(t) }})
	p := testenv.DialRTSP(t, srv.RTSPAddr, "vod/clip")
	p.Setup(t, "trackID=0", 0)
	if res := p.Request(t, "PLAY", "Range: npt=0.000-"); res.StatusCode != base.StatusOK {
		t.Fatalf("PLAY: %d", res.StatusCode)
	}
	first := binary.BigEndian.Uint32(p.NextPacket(t, 0)[4:])
	res := p.Request(t, "PLAY", "Range: npt=4.5-")
	if res.StatusCode != base.StatusOK {
		t.Fatalf("PLAY Range 4.5: %d", res.StatusCode)
	}
	var rng headers.Range
	if err := rng.Unmarshal(res.Header["Range"]); err != nil || rng.Value.(*headers.RangeNPT).Start != 4*time.Second {
		t.Fatalf("Range %q (%v), want from the keyframe at 4 s", res.Header["Range"], err)
	}
	var info headers.RTPInfo
	if err := info.Unmarshal(res.Header["RTP-Info"]); err != nil || len(info) != 1 || info[0].SequenceNumber == nil || info[0].Timestamp == nil {
		t.Fatalf("RTP-Info %q: %v", res.Header["RTP-Info"], err)
	}
	if at := time.Duration(*info[0].Timestamp-first) * time.Second / 90000; at < 3900*time.Millisecond || at > 4100*time.Millisecond {
		t.Errorf("RTP-Info time is %v into the file, want 4 s", at)
	}
	pkt := p.NextPacket(t, 0)
	seq, ts := binary.BigEndian.Uint16(pkt[2:]), binary.BigEndian.Uint32(pkt[4:])
	if seq != *info[0].SequenceNumber || ts-*info[0].Timestamp > 9000 {
		t.Fatalf("first packet after the seek: seq %d time %d; RTP-Info says seq %d time %d", seq, ts, *info[0].SequenceNumber, *info[0].Timestamp)
	}
}
