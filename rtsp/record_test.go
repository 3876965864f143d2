package rtsp_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
)

// publishRTSP publishes the test clip with ffmpeg over RTSP (ANNOUNCE, RECORD), looped in
// real time, until the test ends.
func publishRTSP(t *testing.T, url string, extra ...string) *testenv.Proc {
	t.Helper()
	args := []string{"-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", testenv.Sample(), "-c", "copy", "-f", "rtsp"}
	return testenv.StartProc(t, "ffmpeg", append(append(args, extra...), url)...)
}

// H.264 and AAC published over RTSP, on UDP and on TCP, read back over RTMP, RTSP, LL-HLS and SRT
// as h264 1280x720 and aac; ffmpeg decodes 6 s of it without a warning.
func TestFFmpegPublishesOverRTSP(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			srv := testenv.Start(t, testenv.Options{})
			path := "live/rtsp-" + tr
			publishRTSP(t, srv.RTSPURL(path), "-rtsp_transport", tr)
			testenv.WaitLive(t, srv, path, 10*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			want := []string{"aac", "h264 1280x720"}
			for _, url := range []string{srv.URL(path), srv.RTSPURL(path), srv.HTTPURL("/" + path + "/index.m3u8"), srv.SRTURL("read:" + path)} {
				got := testenv.FFprobeStreams(ctx, t, url)
				sort.Strings(got)
				got = slices.Compact(got) // ffprobe lists HLS and MPEG-TS streams under their program too
				if !slices.Equal(got, want) {
					t.Errorf("%s: streams %v, want %v", url, got, want)
				}
			}
			read := srv.URL(path) // RTMP from an RTSP/UDP publisher, RTSP from an RTSP/TCP one
			if tr == "tcp" {
				read = srv.RTSPURL(path)
			}
			const window = 6 * time.Second
			d := testenv.FFmpegDecode(ctx, t, read, window)
			if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < int(window.Seconds()*30*0.95) {
				t.Errorf("%s: exit %v, %d pictures of %v, warnings:\n%s", read, d.Err, d.Frames, window, strings.Join(w, "\n"))
			}
			if st, _ := srv.Relays.Lookup(path); st == nil || st.Stats().Protocol != "rtsp" {
				t.Errorf("the stream's ingest protocol is not rtsp")
			}
		})
	}
}

// A second publisher of a live path is refused over RTSP as over RTMP, and a path's publish
// key is required over RTSP too, as ?key= or as the password of user relaycast.
func TestRTSPPublishIsRefusedWhereRTMPsWouldBe(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.PublishKeys = map[string]string{"live/keyed": "s3cret", "live/keyed2": "s3cret"}
	}})
	publishRTSP(t, srv.RTSPURL("live/busy"), "-rtsp_transport", "tcp")
	testenv.WaitLive(t, srv, "live/busy", 10*time.Second)
	second := publishRTSP(t, srv.RTSPURL("live/busy"), "-rtsp_transport", "tcp")
	if err := second.Wait(10 * time.Second); !second.Exited() {
		t.Errorf("a second RTSP publisher of a live path is still running: %v", err)
	}
	testenv.PublishSample(t, srv.URL("live/busy")) // and a second over RTMP
	time.Sleep(2 * time.Second)
	if st, _ := srv.Relays.Lookup("live/busy"); st == nil || st.Stats().Protocol != "rtsp" {
		t.Error("an RTMP publisher took over the RTSP publisher's live path")
	}

	nokey := publishRTSP(t, srv.RTSPURL("live/keyed"), "-rtsp_transport", "tcp")
	if err := nokey.Wait(10 * time.Second); !nokey.Exited() {
		t.Errorf("a publisher without the path's key is still running: %v", err)
	}
	if _, err := srv.Relays.Lookup("live/keyed"); err == nil {
		t.Error("live/keyed went live without its key")
	}
	publishRTSP(t, srv.RTSPURL("live/keyed?key=s3cret"), "-rtsp_transport", "tcp")
	testenv.WaitLive(t, srv, "live/keyed", 10*time.Second)
	publishRTSP(t, "rtsp://relaycast:s3cret@"+srv.RTSPAddr+"/live/keyed2", "-rtsp_transport", "tcp")
	testenv.WaitLive(t, srv, "live/keyed2", 10*time.Second)
}

// An RTSP publisher that drops is taken over, within the grace window, by the next one (here
// over UDP where the first was TCP): a player goes on through the outage without an error.
func TestRTSPPublisherDroppingIsTakenOver(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	cfg := relay.DefaultConfig()
	cfg.Grace = 5 * time.Second
	srv := testenv.Start(t, testenv.Options{Relay: cfg})
	first := publishRTSP(t, srv.RTSPURL("live/back"), "-rtsp_transport", "tcp")
	testenv.WaitLive(t, srv, "live/back", 10*time.Second)
	testenv.CheckTakeOver(t, srv, "live/back", first, func() { publishRTSP(t, srv.RTSPURL("live/back"), "-rtsp_transport", "udp") })
}
