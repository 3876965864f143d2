package hls

import (
	"strings"
	"testing"
)

// A playlist keeps the session id in the URIs of playlists and drops it from media URIs, so
// parts and segments are one URL for every client.
func TestUnsessionKeepsTheIDOnPlaylistsAlone(t *testing.T) {
	const sid = "hls_sid=0123456789abcdef01234567"
	in := strings.Join([]string{
		`#EXTM3U`,
		`#EXT-X-MAP:URI="p_video1_init.mp4?` + sid + `"`,
		`#EXT-X-PART:DURATION=0.2,URI="p_video1_part3.mp4?key=k&` + sid + `",INDEPENDENT=YES`,
		`p_video1_seg7.mp4?` + sid + `&key=k`,
		`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p_video1_part4.mp4?` + sid + `"`,
		`#EXT-X-RENDITION-REPORT:URI="audio2_stream.m3u8?` + sid + `",LAST-MSN=7`,
		`video1_stream.m3u8?key=k&` + sid,
	}, "\n")
	want := strings.Join([]string{
		`#EXTM3U`,
		`#EXT-X-MAP:URI="p_video1_init.mp4"`,
		`#EXT-X-PART:DURATION=0.2,URI="p_video1_part3.mp4?key=k",INDEPENDENT=YES`,
		`p_video1_seg7.mp4?key=k`,
		`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p_video1_part4.mp4"`,
		`#EXT-X-RENDITION-REPORT:URI="audio2_stream.m3u8?` + sid + `",LAST-MSN=7`,
		`video1_stream.m3u8?key=k&` + sid,
	}, "\n")
	if got := string(unsession([]byte(in))); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
