package testenv

import (
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// Seconds clips: the picture says which second of the file it is, so a test can tell where
// a player's seek landed from what it shows. The bottom third of the frame is flat grey of
// luma SecondsBase + SecondsStep·s in second s (noise on top, so the encoder has work), the
// rest is testsrc2's moving pattern. Keyframes come every second.
const (
	SecondsBase = 16
	SecondsStep = 7 // 30 s fit in video luma (16–235)
)

// SecondsClip encodes a 1280x720 30 fps H.264 (High, B-frames) + AAC file of d seconds
// (at most 30) into dir and returns its path.
func SecondsClip(t testing.TB, dir string, d int) string {
	t.Helper()
	NeedTools(t, "ffmpeg")
	out := filepath.Join(dir, "seconds-"+strconv.Itoa(d)+".mp4")
	dur := strconv.Itoa(d)
	graph := "testsrc2=size=1280x480:rate=30:duration=" + dur + "[top];" +
		"color=c=black:size=1280x240:rate=30:duration=" + dur +
		",geq=lum='" + strconv.Itoa(SecondsBase) + "+" + strconv.Itoa(SecondsStep) + "*floor(T)':cb=128:cr=128,noise=alls=6:allf=t[band];" +
		"[top][band]vstack,format=yuv420p[v]"
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-filter_complex", graph, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+dur,
		"-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast",
		"-bf", "2", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-b:v", "1500k",
		"-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("encode the seconds clip: %v\n%s", err, b)
	}
	return out
}

// SecondOf is the second a seconds clip's band shows, from the band's mean red, green or
// blue (0–255, full range as a browser paints it).
func SecondOf(rgb float64) int {
	luma := rgb*219/255 + 16
	return int(math.Round((luma - SecondsBase) / SecondsStep))
}
