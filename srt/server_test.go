package srt_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
)

// publishSRT publishes the test clip with ffmpeg over SRT as MPEG-TS, looped in real time,
// until the test ends.
// publishSRT publishes the sample over SRT in real time, with no MPEG-TS mux delay: ffmpeg's
// default (0.7 s) sends each picture half a second after its sound, which a take-over's
// outage, counted to the new publisher's first frame, does not see, and which made the
// player's stall overrun it by half a second on top of the test's margin.
func publishSRT(t *testing.T, url string) *testenv.Proc {
	t.Helper()
	return testenv.StartProc(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", testenv.Sample(), "-c", "copy", "-muxdelay", "0", "-f", "mpegts", url)
}

// H.264 and AAC published over SRT are read back over RTMP, RTSP, LL-HLS and SRT (both stream
// id forms) as h264 1280x720 and aac; ffmpeg decodes 6 s over SRT and over RTMP without a
// warning.
func TestFFmpegPublishesOverSRT(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	srv := testenv.Start(t, testenv.Options{})
	const path = "live/srt"
	publishSRT(t, srv.SRTURL("publish:"+path))
	testenv.WaitLive(t, srv, path, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	want := []string{"aac", "h264 1280x720"}
	for _, url := range []string{srv.URL(path), srv.RTSPURL(path), srv.HTTPURL("/" + path + "/index.m3u8"),
		srv.SRTURL("read:" + path), srv.SRTURL("#!::r=" + path)} {
		got := testenv.FFprobeStreams(ctx, t, url)
		sort.Strings(got)
		got = slices.Compact(got) // ffprobe lists MPEG-TS and HLS streams under their program too
		if !slices.Equal(got, want) {
			t.Errorf("%s: streams %v, want %v", url, got, want)
		}
	}
	const window = 6 * time.Second
	for _, url := range []string{srv.SRTURL("read:" + path), srv.URL(path)} {
		d := testenv.FFmpegDecode(ctx, t, url, window)
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(window) {
			t.Errorf("%s: exit %v, %d pictures of %v, warnings:\n%s", url, d.Err, d.Frames, window, strings.Join(w, "\n"))
		}
	}
	if st, _ := srv.Relays.Lookup(path); st == nil || st.Stats().Protocol != "srt" {
		t.Errorf("the stream's ingest protocol is not srt")
	}
	var kinds []string
	for _, s := range srv.Sessions.List() {
		if s.Protocol == "srt" {
			kinds = append(kinds, string(s.Kind))
		}
	}
	if !slices.Contains(kinds, "publish") {
		t.Errorf("srt sessions %v: no publisher", kinds)
	}
}

// Over SRT as over RTMP: a second publisher of a live path is refused, a path's publish key is
// required (in either stream id form), and a caller with a wrong stream id or a missing or
// wrong passphrase is refused.
func TestSRTRefusesWhatRTMPWould(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	const pass = "correct-horse-battery"
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.PublishKeys = map[string]string{"live/keyed": "s3cret", "live/keyed2": "s3cret"}
		c.SRTPassphrase = pass
	}})
	withPass := func(url string) string { return url + "&passphrase=" + pass }
	publishSRT(t, withPass(srv.SRTURL("publish:live/busy")))
	testenv.WaitLive(t, srv, "live/busy", 10*time.Second)
	for name, url := range map[string]string{
		"a second publisher":       withPass(srv.SRTURL("publish:live/busy")),
		"no passphrase":            srv.SRTURL("publish:live/other"),
		"a wrong passphrase":       srv.SRTURL("publish:live/other") + "&passphrase=wrong-passphrase",
		"no key":                   withPass(srv.SRTURL("publish:live/keyed")),
		"a wrong key":              withPass(srv.SRTURL("publish:live/keyed:nope")),
		"a stream id without path": withPass(srv.SRTURL("publish:")),
	} {
		p := publishSRT(t, url)
		if err := p.Wait(15 * time.Second); !p.Exited() {
			t.Errorf("%s: still publishing: %v", name, err)
		}
	}
	for _, path := range []string{"live/other", "live/keyed"} {
		if st, err := srv.Relays.Lookup(path); err == nil && st.Stats().Frames > 0 {
			t.Errorf("%s went live", path)
		}
	}
	testenv.PublishSample(t, srv.URL("live/busy")) // a second over RTMP
	time.Sleep(2 * time.Second)
	if st, _ := srv.Relays.Lookup("live/busy"); st == nil || st.Stats().Protocol != "srt" {
		t.Error("an RTMP publisher took over the SRT publisher's live path")
	}
	publishSRT(t, withPass(srv.SRTURL("publish:live/keyed:s3cret")))
	testenv.WaitLive(t, srv, "live/keyed", 10*time.Second)
	publishSRT(t, withPass(srv.SRTURL("#!::r=live/keyed2,m=publish,s=s3cret")))
	testenv.WaitLive(t, srv, "live/keyed2", 10*time.Second)
	refused := 0
	for r, n := range srv.SRT.Refusals() {
		if r.Kind == "publish" {
			refused += int(n)
		}
	}
	if refused < 5 {
		t.Errorf("refusals %v, want ≥ 5 publishes", srv.SRT.Refusals())
	}
}

// An SRT publisher that drops without a goodbye (SRT has none a killed encoder could send:
// the server notices the silence) is taken over by the next one within the grace window.
func TestSRTPublisherDroppingIsTakenOver(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	cfg := relay.DefaultConfig()
	cfg.Grace = 8 * time.Second
	srv := testenv.Start(t, testenv.Options{Relay: cfg})
	const path = "live/back"
	first := publishSRT(t, srv.SRTURL("publish:"+path))
	testenv.WaitLive(t, srv, path, 10*time.Second)
	testenv.CheckTakeOver(t, srv, path, first, func() {
		for srv.Sessions.Readers("srt") != nil && publishing(srv, path) { // the silence is noticed in 2 s
			time.Sleep(50 * time.Millisecond)
		}
		publishSRT(t, srv.SRTURL("publish:"+path))
	})
}

func publishing(srv *testenv.Server, path string) bool {
	for _, s := range srv.Sessions.List() {
		if s.Path == path && s.Kind == "publish" {
			return true
		}
	}
	return false
}

// A caller that publishes what is not MPEG-TS is ended with a clear error; the viewers of
// another SRT stream never notice.
func TestSRTGarbageEndsOnlyThatPublisher(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	srv := testenv.Start(t, testenv.Options{})
	publishSRT(t, srv.SRTURL("publish:live/good"))
	testenv.WaitLive(t, srv, "live/good", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const window = 8 * time.Second
	result := make(chan testenv.Decode, 1)
	go func() { result <- testenv.FFmpegDecode(ctx, t, srv.SRTURL("read:live/good"), window) }()

	c := gosrt.DefaultConfig()
	c.StreamId = "publish:live/bad"
	conn, err := gosrt.Dial("srt", srv.SRTAddr, c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	junk := make([]byte, 1316)
	for i := range junk {
		junk[i] = byte(i * 7)
	}
	for range 10000 { // 13 MB: past the demuxer's probe limit
		if _, err := conn.Write(junk); err != nil {
			break
		}
		time.Sleep(50 * time.Microsecond)
	}
	srv.WaitLog(t, 20*time.Second, "publisher refused", "live/bad")
	if st, err := srv.Relays.Lookup("live/bad"); err == nil && st.Stats().Frames > 0 {
		t.Errorf("live/bad has %d frames", st.Stats().Frames)
	}
	d := <-result
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(window) {
		t.Errorf("the other stream's viewer: exit %v, %d pictures, warnings:\n%s", d.Err, d.Frames, strings.Join(w, "\n"))
	}
}
