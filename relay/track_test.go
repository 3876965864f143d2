package relay

import "testing"

// Every output that takes one video and one audio track takes the first of each it carries.
func TestFirstTracksTakesTheFirstOfEachThatIsCarried(t *testing.T) {
	aac, h264, opus, h265 := &Track{Codec: CodecAAC}, &Track{Codec: CodecH264}, &Track{Codec: CodecOpus}, &Track{Codec: CodecH265}
	tracks := []*Track{aac, h264, opus, h265}
	if v, a := FirstTracks(tracks, nil); v != h264 || a != aac {
		t.Errorf("any codec: %v and %v, want the H.264 and the AAC", v, a)
	}
	noAVCNoAAC := func(c Codec) bool { return c != CodecH264 && c != CodecAAC }
	if v, a := FirstTracks(tracks, noAVCNoAAC); v != h265 || a != opus {
		t.Errorf("without H.264 and AAC: %v and %v, want the H.265 and the Opus", v, a)
	}
	if v, a := FirstTracks(nil, nil); v != nil || a != nil {
		t.Errorf("no tracks: %v and %v", v, a)
	}
}
