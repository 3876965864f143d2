package testenv

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// ffmpeg folds a message that comes again into "Last message repeated N times": that line is
// as allowed, or as much a warning, as the message it repeats.
func TestDecoderWarningsFollowRepeatedMessages(t *testing.T) {
	allowed := regexp.MustCompile(`^\[hls @ 0x[0-9a-f]+\] reload$`)
	out := "[hls @ 0x1] reload\nLast message repeated 1 times\n[h264 @ 0x2] error while decoding MB 3 4\nLast message repeated 2 times\n"
	got := DecoderWarnings(out, allowed)
	want := []string{"[h264 @ 0x2] error while decoding MB 3 4", "Last message repeated 2 times"}
	if !slices.Equal(got, want) {
		t.Fatalf("warnings %q, want %q", got, want)
	}
}

// gstreamer's assertion at the EOS that ends a test pipeline passes; other criticals do not.
func TestGstEOSSeqnumPasses(t *testing.T) {
	out := "(gst-launch-1.0:3316): GStreamer-CRITICAL **: 16:47:11.054: gst_event_set_seqnum: assertion 'seqnum != GST_SEQNUM_INVALID' failed\n" +
		"(gst-launch-1.0:3316): GStreamer-CRITICAL **: 16:47:11.054: gst_buffer_resize_range: assertion 'bufmax >= bufoffs + offset + size' failed"
	if got := DecoderWarnings(out, gstTeardown, gstEOSSeqnum); len(got) != 1 || !strings.Contains(got[0], "gst_buffer_resize_range") {
		t.Errorf("warnings %q", got)
	}
}

// rtspsrc's UDP source, unlinked after one branch of the test pipeline ended, passes; the
// same source's other errors do not.
func TestGstUnlinkedUDPSourcePasses(t *testing.T) {
	out := "0:00:02.051385023  1222 0x7f60340468c0 WARN                 basesrc gstbasesrc.c:3132:gst_base_src_loop:<udpsrc0> error: Internal data stream error.\n" +
		"0:00:02.051433360  1222 0x7f60340468c0 WARN                 basesrc gstbasesrc.c:3132:gst_base_src_loop:<udpsrc0> error: streaming stopped, reason not-linked (-1)\n" +
		"0:00:02.051433360  1222 0x7f60340468c0 WARN                 basesrc gstbasesrc.c:3132:gst_base_src_loop:<udpsrc0> error: streaming stopped, reason error (-5)"
	if got := DecoderWarnings(out, gstUnlinked); len(got) != 1 || !strings.Contains(got[0], "reason error") {
		t.Errorf("warnings %q", got)
	}
}
