package testenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Timecode clips: the picture says which second of the file it is for up to 1023 s, where a
// seconds clip's grey band holds 30. The bottom band of the 640x360 frame is ten blocks of
// 64x80 pixels, block i white when bit i of the second is set and black when not: what a
// lossy encoder and a browser's scaler leave of black and white is still black and white.
const (
	TimecodeWidth, TimecodeHeight = 640, 360
	timecodeBits, timecodeBlock   = 10, 64
	// TimecodeBandY is the band's first row.
	TimecodeBandY = 280
)

// TimecodeClip encodes a 640x360 30 fps H.264 (High, B-frames) + AAC file of d seconds (at
// most 1023) with a keyframe on each second into dir and returns its path. Ten minutes take
// about a minute of one core.
func TimecodeClip(t testing.TB, dir string, d int) string {
	t.Helper()
	NeedTools(t, "ffmpeg")
	out := filepath.Join(dir, fmt.Sprintf("timecode-%d.mp4", d))
	var band strings.Builder
	fmt.Fprintf(&band, "color=c=black:size=%dx%d:rate=30:duration=%d", TimecodeWidth, TimecodeHeight-TimecodeBandY, d)
	for i := range timecodeBits {
		fmt.Fprintf(&band, ",drawbox=x=%d:y=0:w=%d:h=%d:color=white:t=fill:enable='mod(floor(t/%d),2)'",
			i*timecodeBlock, timecodeBlock, TimecodeHeight-TimecodeBandY, 1<<i)
	}
	graph := fmt.Sprintf("testsrc2=size=%dx%d:rate=30:duration=%d[top];%s[band];[top][band]vstack,format=yuv420p[v]",
		TimecodeWidth, TimecodeBandY, d, band.String())
	// At the lowest priority, on one thread: make test runs this beside the other tests,
	// whose timing it must not disturb.
	cmd := exec.Command("nice", "-n", "19", "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-filter_complex_threads", "1",
		"-filter_complex", graph, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", d),
		"-map", "[v]", "-map", "0:a", "-threads", "1", "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast",
		"-bf", "2", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-b:v", "600k",
		"-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("encode the timecode clip: %v\n%s", err, b)
	}
	return out
}

// TimecodeOf reads the second from a timecode picture's band: rows of TimecodeWidth grey
// (luma) bytes from anywhere in the band.
func TimecodeOf(band []byte) int {
	rows := len(band) / TimecodeWidth
	second := 0
	for i := range timecodeBits {
		var sum, n int
		for r := range rows {
			for x := i*timecodeBlock + 16; x < (i+1)*timecodeBlock-16; x++ {
				sum += int(band[r*TimecodeWidth+x])
				n++
			}
		}
		if n > 0 && sum/n > 125 {
			second |= 1 << i
		}
	}
	return second
}
