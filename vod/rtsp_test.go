package vod_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/conn"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testenv"
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
	p := dialRTSP(t, srv.RTSPAddr, "vod/clip")
	p.request(t, "PLAY", "Range: npt=0.000-")
	var stamps []uint32
	for start := time.Now(); time.Since(start) < 2500*time.Millisecond; {
		stamps = append(stamps, p.nextVideo(t))
	}
	p.request(t, "PAUSE")
	_ = p.nc.SetReadDeadline(time.Now().Add(time.Second))
	if what, err := p.in.Read(); err == nil {
		t.Fatalf("during PAUSE the server sent %T", what)
	}
	p.request(t, "PLAY")
	resumed := p.nextVideo(t)
	at := func(ts uint32) time.Duration { return time.Duration(ts-stamps[0]) * time.Second / 90000 }
	last := stamps[len(stamps)-1]
	// The clip's keyframes are a second apart: resuming starts at most a GOP before.
	if at(resumed) > at(last) || at(last)-at(resumed) > 1100*time.Millisecond || at(resumed) < time.Second {
		t.Fatalf("paused at %v of the file, resumed at %v", at(last), at(resumed))
	}
	t.Logf("paused at %v, resumed at %v", at(last), at(resumed))
}

// rtspPlayer is a bare RTSP client over TCP: requests by hand, replies and packets read
// with gortsplib's parser. It sets up the video alone, on channels 0-1.
type rtspPlayer struct {
	nc      net.Conn
	in      *conn.Conn
	url     string
	session string
	cseq    int
}

func dialRTSP(t *testing.T, addr, path string) *rtspPlayer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	p := &rtspPlayer{nc: nc, in: conn.NewConn(bufio.NewReader(nc), nc), url: "rtsp://" + addr + "/" + path}
	res := p.request(t, "SETUP "+p.url+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1")
	p.session, _, _ = strings.Cut(res.Header["Session"][0], ";")
	return p
}

func (p *rtspPlayer) request(t *testing.T, method string, hdr ...string) *base.Response {
	t.Helper()
	p.cseq++
	if !strings.Contains(method, " ") {
		method += " " + p.url
	}
	if p.session != "" {
		hdr = append(hdr, "Session: "+p.session)
	}
	req := fmt.Sprintf("%s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n", method, p.cseq, strings.Join(append(hdr, ""), "\r\n"))
	if _, err := p.nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		what, err := p.in.Read()
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if res, ok := what.(*base.Response); ok {
			if res.StatusCode != base.StatusOK {
				t.Fatalf("%s: %d %s", method, res.StatusCode, res.StatusMessage)
			}
			return res
		}
	}
}

// nextVideo returns the RTP timestamp of the next packet on channel 0.
func (p *rtspPlayer) nextVideo(t *testing.T) uint32 {
	t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		what, err := p.in.Read()
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := what.(*base.InterleavedFrame); ok && f.Channel == 0 && len(f.Payload) >= 12 {
			return binary.BigEndian.Uint32(f.Payload[4:])
		}
	}
}
