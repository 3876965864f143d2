package ladder

import (
	"slices"
	"strings"
	"testing"
)

func TestParseLadder(t *testing.T) {
	got, err := ParseLadder([]string{"360p@600k", "720p@2.5M", "480p@1200k"})
	want := []Rung{{720, 2500}, {480, 1200}, {360, 600}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("ParseLadder = %v, %v; want %v", got, err, want)
	}
	if got[1].Label() != "480p" || got[1].String() != "480p@1200k" || got[0].Codecs() != "avc1.64001f" {
		t.Errorf("label %q, string %q, codecs %q", got[1].Label(), got[1].String(), got[0].Codecs())
	}
	for in, why := range map[string]string{
		"480p":       "want HEIGHTp@BITRATEk",
		"480@1200k":  "height",
		"481p@1200k": "height",
		"480p@1200":  "bitrate",
		"480p@10k":   "bitrate from",
		"480p@fastk": "bitrate from",
	} {
		if _, err := ParseLadder([]string{in}); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want an error about %s", in, err, why)
		}
	}
	if _, err := ParseLadder([]string{"480p@1200k", "480p@800k"}); err == nil {
		t.Error("two rungs of one height accepted")
	}
}

// The encoder's arguments keep every picture with its timestamp on the input's clock and
// put keyframes where the source's are, whatever the encoder.
func TestFFmpegArgsKeepTimestampsAndKeyframes(t *testing.T) {
	for _, enc := range []string{EncoderX264, EncoderNVENC, EncoderVAAPI, EncoderQSV} {
		args := strings.Join(ffmpegArgs(Rung{480, 1200}, enc), " ")
		for _, want := range []string{"-copyts", "-fps_mode passthrough", "-enc_time_base:v -1", "-force_key_frames source",
			"-c:v " + enc, "-b:v 1200k", "-level:v 3.1", "pipe:1"} {
			if !strings.Contains(args, want) {
				t.Errorf("%s: no %q in %s", enc, want, args)
			}
		}
	}
}
