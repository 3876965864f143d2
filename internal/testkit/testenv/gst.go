package testenv

import (
	"context"
	"fmt"
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

// gstUnlinked is rtspsrc's UDP source going on after one branch of the test's pipeline has
// ended (identity eos-after: the video, which the GOP sent at once brings there first) while
// the other still counts: its packets have nowhere to go. It passes only when gst-launch
// ended by itself, every branch having had its buffers.
var gstUnlinked = regexp.MustCompile(`<udpsrc\d+> error: (Internal data stream error\.|streaming stopped, reason not-linked \(-1\))$`)

// LiveFMP4Reload is what ffmpeg 5.1's HLS reader prints for every live fMP4 HLS stream, its
// own muxer's included (tried: ffmpeg -f hls -hls_segment_type fmp4 served by a plain HTTP
// server): after each playlist reload it feeds the init section again with the next
// segment, and its MP4 reader skips the repeated moov. Only an LL-HLS player may allow it.
var LiveFMP4Reload = regexp.MustCompile(`\] Found duplicated MOOV Atom\. Skipped it$`)

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
//
// playbin, not a hand-made rtspsrc pipeline: gst-launch links a pipeline's branches to
// rtspsrc's pads as they come, and when both medias' first packets came at once it could
// leave one unlinked, that branch never ending (over TCP without a word, over UDP with
// "not-linked"); playbin links each pad as it comes. rtspsrc takes the transport from
// the scheme: rtspt is TCP only, rtspu UDP only.
func GstDecodeRTSP(ctx context.Context, t testing.TB, url, protocols string, video, audio int) ([]string, error) {
	t.Helper()
	NeedTools(t, "gst-launch-1.0")
	scheme := map[string]string{"tcp": "rtspt", "udp": "rtspu"}[protocols]
	if scheme == "" || !strings.HasPrefix(url, "rtsp://") {
		t.Fatalf("gstreamer plays rtsp:// over tcp or udp, not %s over %q", url, protocols)
	}
	cmd := exec.CommandContext(ctx, "gst-launch-1.0", "-q", "playbin", "uri="+scheme+strings.TrimPrefix(url, "rtsp"),
		fmt.Sprintf("video-sink=identity eos-after=%d ! fakesink", video),
		fmt.Sprintf("audio-sink=identity eos-after=%d ! fakesink", audio))
	cmd.Env = append(cmd.Environ(), "GST_DEBUG=*:2", "GST_DEBUG_NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	allowed := []*regexp.Regexp{gstTeardown, gstEOSSeqnum}
	if err == nil {
		allowed = append(allowed, gstUnlinked)
	}
	return DecoderWarnings(string(out), allowed...), err
}

// GstDecodeHLS plays an HLS url with gstreamer's playbin3 (hlsdemux2, as GStreamer-based
// players, set-top boxes and WebKitGTK play HLS) until it has decoded the given numbers of
// video and audio buffers, with warnings on, and returns its warnings and how it ended.
func GstDecodeHLS(ctx context.Context, t testing.TB, url string, video, audio int) ([]string, error) {
	t.Helper()
	NeedTools(t, "gst-launch-1.0")
	cmd := exec.CommandContext(ctx, "gst-launch-1.0", "-q", "playbin3", "uri="+url,
		fmt.Sprintf("video-sink=identity eos-after=%d ! fakesink", video),
		fmt.Sprintf("audio-sink=identity eos-after=%d ! fakesink", audio))
	cmd.Env = append(cmd.Environ(), "GST_DEBUG=*:2", "GST_DEBUG_NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	return DecoderWarnings(string(out), gstEOSSeqnum, gstSoupSession), err
}

// gstSoupSession is gst-launch printing playbin3's properties, one of which it cannot: not
// about the media.
var gstSoupSession = regexp.MustCompile(`No value transform to serialize field 'session' of type 'GstSoupSession'$`)
