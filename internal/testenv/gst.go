package testenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// startupReorder is gstreamer's video decoder warning that a picture's timestamp is below the
// last one's, as it prints it in the first moments of a B-frame stream over RTP: RTP carries
// presentation times only, in decode order, and the decoder learns the reorder depth from
// the first pictures. Only this warning, and only within the stream's first second, passes.
var startupReorder = regexp.MustCompile(`<avdec_h264-\d+> decreasing timestamp \(0:00:00\.\d+ < 0:00:00\.\d+\)$`)

// gstTeardown is rtspsrc noting, as the pipeline stops after its last buffer, that the
// TEARDOWN it was writing was cancelled: the end of gst-launch, not of the stream.
var gstTeardown = regexp.MustCompile(`gstrtspconnection\.c:\d+:(writev|read)_bytes: Operation was cancelled$`)

// gstEOSSeqnum is gstreamer 1.22's identity element, told to end the pipeline after N
// buffers (eos-after), stamping its EOS event with the seqnum of a segment it has not
// recorded: an assertion inside the test's own way of stopping, after the decoding is done.
var gstEOSSeqnum = regexp.MustCompile(`GStreamer-CRITICAL \*\*: [0-9:.]+: gst_event_set_seqnum: assertion 'seqnum != GST_SEQNUM_INVALID' failed$`)

// DecoderWarnings returns the lines of a player's output that are not one of the allowed
// messages (or gstreamer's start-up reorder warning): what a user would read as trouble.
func DecoderWarnings(out string, allowed ...*regexp.Regexp) []string {
	var warns []string
	prevOK := false // the line before, for ffmpeg's "Last message repeated N times"
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		ok := startupReorder.MatchString(l) || prevOK && repeated.MatchString(l)
		for _, re := range allowed {
			ok = ok || re.MatchString(l)
		}
		if !ok {
			warns = append(warns, l)
		}
		prevOK = ok
	}
	return warns
}

// repeated is how ffmpeg's log says its last message came again: it passes when that message
// did, and counts as a warning when that one was one.
var repeated = regexp.MustCompile(`^Last message repeated \d+ times?$`)

// GstDecodeRTSP plays an H.264+AAC url with gstreamer over protocols (tcp or udp) until it
// has decoded the given numbers of video and audio buffers, with warnings on, and returns
// its warnings and how it ended.
func GstDecodeRTSP(ctx context.Context, t testing.TB, url, protocols string, video, audio int) ([]string, error) {
	t.Helper()
	NeedTools(t, "gst-launch-1.0")
	args := []string{"-q", "rtspsrc", "name=src", "location=" + url, "protocols=" + protocols,
		// Caps on each branch, or rtspsrc's pads link to whichever branch asks first.
		"src.", "!", "application/x-rtp,media=video", "!", "queue", "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264",
		"!", "identity", fmt.Sprintf("eos-after=%d", video), "!", "fakesink",
		// Audio too, or its unlinked pad stops the pipeline.
		"src.", "!", "application/x-rtp,media=audio", "!", "queue", "!", "rtpmp4gdepay", "!", "aacparse",
		"!", "avdec_aac", "!", "identity", fmt.Sprintf("eos-after=%d", audio), "!", "fakesink"}
	for try := 1; ; try++ {
		out, raced, err := gstRun(ctx, args)
		warns := DecoderWarnings(out, gstTeardown, gstEOSSeqnum)
		if try < 3 && raced {
			// gst-launch's own start-up race, not the stream's: rtspsrc adds the pads of
			// both medias from two threads when their first packets come together, and the
			// pipeline's delayed links, tried as each pad comes, can miss one (seen only on
			// a machine loaded by other decoders). Nothing was decoded wrong: try again.
			t.Logf("gstreamer could not link its pipeline (try %d), again:\n%s", try, strings.Join(warns, "\n"))
			continue
		}
		return warns, err
	}
}

// gstLinkRace is gst-launch telling that a delayed link of the pipeline was not made.
var gstLinkRace = regexp.MustCompile(`gst_parse_no_more_pads:<src> warning: (Delayed linking failed\.|failed delayed linking some pad of GstRTSPSrc named src to some pad of GstQueue named queue\d+)$`)

// gstRun runs gst-launch-1.0 and returns its output and exit; raced says it was stopped
// as soon as it told of gstLinkRace, since the branch left unlinked would never end.
func gstRun(ctx context.Context, args []string) (string, bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gst-launch-1.0", args...)
	cmd.Env = append(cmd.Environ(), "GST_DEBUG=*:2", "GST_DEBUG_NO_COLOR=1")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return "", false, err
	}
	var (
		out   strings.Builder
		raced bool
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if gstLinkRace.MatchString(sc.Text()) && !raced {
				raced = true
				cancel()
			}
		}
	}()
	err := cmd.Wait()
	pw.Close()
	<-done
	return out.String(), raced, err
}
