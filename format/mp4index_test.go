package format_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
)

// The index places every sample where ffprobe does: same count per track, offsets, sizes,
// decode and presentation times and keyframes (the edit list aside, which ffprobe is told to
// ignore: the index keeps the file's own timeline).
func TestIndexAgreesWithFFprobeOnEverySample(t *testing.T) {
	testenv.NeedTools(t, "ffprobe")
	t.Run("progressive", func(t *testing.T) { indexAgreesWithFFprobe(t, testenv.Sample()) })
	// ffmpeg's fragmented MP4: an empty moov, then a moof+mdat per keyframe.
	t.Run("fragmented", func(t *testing.T) { indexAgreesWithFFprobe(t, fragmentedSample(t, "")) })
	t.Run("fragmented-moof-base", func(t *testing.T) {
		indexAgreesWithFFprobe(t, fragmentedSample(t, "+default_base_moof"))
	})
}

// fragmentedSample remuxes the sample clip into a fragmented MP4.
func fragmentedSample(t *testing.T, flags string) string {
	t.Helper()
	testenv.NeedTools(t, "ffmpeg")
	out := t.TempDir() + "/frag.mp4"
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", testenv.Sample(), "-c", "copy",
		"-movflags", "frag_keyframe+empty_moov"+flags, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// A fragmented file cut in the middle of a fragment (a recording whose server was killed)
// indexes up to its last whole fragment, and says where it is cut.
func TestCutFragmentedFileIndexesItsWholeFragments(t *testing.T) {
	frag := fragmentedSample(t, "")
	b, err := os.ReadFile(frag)
	if err != nil {
		t.Fatal(err)
	}
	full, err := format.ReadIndex(bytes.NewReader(b), int64(len(b)))
	if err != nil || full.Cut != 0 {
		t.Fatalf("whole file: cut %d, %v", full.Cut, err)
	}
	half := b[:len(b)*2/3]
	ix, err := format.ReadIndex(bytes.NewReader(half), int64(len(half)))
	if err != nil {
		t.Fatal(err)
	}
	if ix.Cut == 0 || ix.Cut > int64(len(half)) {
		t.Fatalf("cut at %d of %d", ix.Cut, len(half))
	}
	if len(ix.Samples) == 0 || len(ix.Samples) >= len(full.Samples) || ix.Duration < 2*time.Second {
		t.Fatalf("%d of %d samples, %v", len(ix.Samples), len(full.Samples), ix.Duration)
	}
	for i, s := range ix.Samples {
		if s.Offset+int64(s.Size) > ix.Cut || s != full.Samples[i] && s.Track == full.Samples[i].Track {
			t.Fatalf("sample %d %+v: past the cut %d, or not the whole file's %+v", i, s, ix.Cut, full.Samples[i])
		}
	}
}

func indexAgreesWithFFprobe(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	ix, err := format.ReadIndex(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Tracks) != 2 || ix.Tracks[0].Codec != relay.CodecH264 || ix.Tracks[0].Width != 1280 || ix.Tracks[1].Codec != relay.CodecAAC {
		t.Fatalf("tracks %+v", ix.Tracks)
	}
	if _, err := codec.ParseH264Config(ix.Tracks[0].Config); err != nil {
		t.Fatal(err)
	}
	if ix.Duration < 5900*time.Millisecond || ix.Duration > 6100*time.Millisecond {
		t.Errorf("duration %v, want 6 s", ix.Duration)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-ignore_editlist", "1",
		"-show_entries", "packet=stream_index,pts_time,dts_time,size,pos,flags", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatal(err)
	}
	byTrack := [2][]format.Sample{}
	for _, s := range ix.Samples {
		byTrack[s.Track] = append(byTrack[s.Track], s)
	}
	seen := [2]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		n, _ := strconv.Atoi(f[0])
		if seen[n] >= len(byTrack[n]) {
			t.Fatalf("ffprobe has more packets on stream %d than the index (%d)", n, len(byTrack[n]))
		}
		s := byTrack[n][seen[n]]
		seen[n]++
		pts, _ := strconv.ParseFloat(f[1], 64)
		dts, _ := strconv.ParseFloat(f[2], 64)
		size, _ := strconv.Atoi(f[3])
		pos, _ := strconv.ParseInt(f[4], 10, 64)
		key := strings.Contains(f[5], "K")
		if int(s.Size) != size || s.Offset != pos || s.Key != key ||
			absDiff(s.PTS.Seconds(), pts) > 1e-5 || absDiff(s.DTS.Seconds(), dts) > 1e-5 {
			t.Fatalf("stream %d packet %d: index %+v, ffprobe %s", n, seen[n]-1, s, line)
		}
	}
	if seen[0] != len(byTrack[0]) || seen[1] != len(byTrack[1]) {
		t.Fatalf("ffprobe saw %v packets, the index has %d and %d", seen, len(byTrack[0]), len(byTrack[1]))
	}
	// Frames carry the file's bytes: a video sample is length-prefixed NAL units as stored.
	fr, err := ix.Frame(f, 0)
	if err != nil || fr.Track != ix.Tracks[0] || !fr.Key || codec.CheckAVCC(fr.Payload, 4) != nil {
		t.Fatalf("first frame %+v: %v", fr, err)
	}
	raw := make([]byte, 16)
	_, _ = f.ReadAt(raw, ix.Samples[0].Offset)
	if !bytes.Equal(fr.Payload[:16], raw) {
		t.Fatal("frame payload is not the sample's bytes")
	}
	if k := ix.KeyframeBefore(3500 * time.Millisecond); !ix.Samples[k].Key || ix.Samples[k].DTS > 3500*time.Millisecond || ix.Samples[k].DTS < 2400*time.Millisecond {
		t.Errorf("keyframe before 3.5 s: sample %d at %v", k, ix.Samples[k].DTS)
	}
}

func absDiff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

// ReadDuration, which reads a fragmented file's last fragments alone, says what the whole
// index does, of every kind of file: progressive, fragmented, cut in a fragment, and each
// codec the index carries.
func TestReadDurationIsTheIndexsDuration(t *testing.T) {
	files := map[string]string{"progressive": testenv.Sample(), "fragmented": fragmentedSample(t, ""),
		"fragmented-moof-base": fragmentedSample(t, "+default_base_moof")}
	for _, c := range []string{"hevc", "av1"} {
		out := t.TempDir() + "/frag.mp4"
		src := strings.Replace(testenv.Sample(), ".mp4", "-"+c+".mp4", 1)
		if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", src, "-c", "copy",
			"-movflags", "frag_keyframe+empty_moov+default_base_moof", out).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		files["fragmented-"+c] = out
	}
	for name, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{len(b), len(b) * 2 / 3} {
			ix, err := format.ReadIndex(bytes.NewReader(b[:cut]), int64(cut))
			if err != nil {
				if cut == len(b) {
					t.Fatalf("%s: %v", name, err)
				}
				continue // a progressive file cut short has no index
			}
			d, err := format.ReadDuration(bytes.NewReader(b[:cut]), int64(cut))
			if err != nil || d != ix.Duration || d <= 0 {
				t.Errorf("%s cut at %d of %d: duration %v (%v), the index says %v", name, cut, len(b), d, err, ix.Duration)
			}
		}
	}
}
