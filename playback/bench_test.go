package playback_test

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/playback"
	"github.com/relaycast/relaycast/record"
	"github.com/relaycast/relaycast/vod"
)

// libraryStore is the record.Store of a media library, as the server keeps recordings.
type libraryStore struct{ *vod.Library }

func (s libraryStore) Files(dir string) ([]record.File, error) {
	files, err := s.Library.Files(dir)
	out := make([]record.File, 0, len(files))
	for _, f := range files {
		out = append(out, record.File{Name: f.Name, Size: f.Size, ModTime: f.ModTime})
	}
	return out, err
}
func (s libraryStore) Open(file string) (io.ReadSeekCloser, error) { return s.OpenFile(file) }

func TestMain(m *testing.M) {
	code := m.Run()
	if dayDir != "" {
		_ = os.RemoveAll(dayDir)
	}
	os.Exit(code)
}

var (
	dayOnce sync.Once
	dayDir  string
	dayErr  error
)

// day is a media directory with 24 h of one-minute recordings of live/day (a small picture:
// the files are one minute of 160x90 video, hard-linked 1440 times), dated by their names
// from 2026-12-03 00:00 local time, with no book yet.
func day(b testing.TB) string {
	b.Helper()
	dayOnce.Do(func() {
		dayDir, dayErr = os.MkdirTemp("", "relaycast-dvr-day-")
		if dayErr != nil {
			return
		}
		one := filepath.Join(dayDir, "minute.mp4")
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30:duration=60", "-f", "lavfi", "-i", "sine=duration=60",
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-b:a", "32k",
			"-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "1000000", one)
		if out, err := cmd.CombinedOutput(); err != nil {
			dayErr = err
			b.Logf("%s", out)
			return
		}
		dir := filepath.Join(dayDir, "recordings", "live", "day")
		if dayErr = os.MkdirAll(dir, 0o755); dayErr != nil {
			return
		}
		t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.Local)
		for m := range 24 * 60 {
			name := t0.Add(time.Duration(m)*time.Minute).Format("2006-01-02_15-04-05") + ".mp4"
			if dayErr = os.Link(one, filepath.Join(dir, name)); dayErr != nil {
				return
			}
		}
		dayErr = os.Remove(one)
	})
	if dayErr != nil {
		b.Fatal(dayErr)
	}
	return dayDir
}

func open(b testing.TB, dir string) (*vod.Library, *record.Recorder) {
	b.Helper()
	lib, err := vod.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lib.Close() })
	return lib, record.New(record.DefaultConfig(), libraryStore{lib}, slog.New(slog.DiscardHandler))
}

// The first question after a start with no book: every file is read for its length.
func BenchmarkDVRBookFromFiles24hOf1MinuteFiles(b *testing.B) {
	dir := day(b)
	for b.Loop() {
		_ = os.Remove(filepath.Join(dir, "recordings", "live", "day", "index.json"))
		_, rec := open(b, dir)
		if spans, err := rec.Spans("live/day"); err != nil || len(spans) != 1440 {
			b.Fatalf("%d spans, %v", len(spans), err)
		}
	}
}

// A list request: the book is kept in memory.
func BenchmarkDVRList24hOf1MinuteFiles(b *testing.B) {
	_, rec := open(b, day(b))
	if _, err := rec.Spans("live/day"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if spans, err := rec.Spans("live/day"); err != nil || len(spans) != 1440 {
			b.Fatalf("%d spans, %v", len(spans), err)
		}
	}
}

// A range request: one hour from the middle of the day, laid out as one MP4.
func BenchmarkDVRRange1hOf24hOf1MinuteFiles(b *testing.B) {
	lib, rec := open(b, day(b))
	spans, err := rec.Spans("live/day")
	if err != nil {
		b.Fatal(err)
	}
	from := spans[0].Start.Add(12*time.Hour + 30*time.Second)
	answer := func(from time.Time) {
		clip, err := playback.Make(lib, spans, from, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if _, size, err := clip.MP4(); err != nil || size < 1000 {
			b.Fatalf("%d bytes, %v", size, err)
		}
		clip.Close()
	}
	// The first request reads the 60 files' indexes and lays the MP4 out; those after it (a
	// player's range requests as it seeks) find both kept.
	t0 := time.Now()
	answer(from)
	first := time.Since(t0)
	for b.Loop() {
		answer(from)
	}
	b.ReportMetric(first.Seconds()*1000, "first-ms")
}

// A DVR viewer's requests an hour back in a day of recordings: its playlist's reload, and a
// segment. Neither joins the hour's samples: the playlist looks at each file's cuts (made
// once per file), and a segment names its file.
func BenchmarkDVRHLS1hOf24hOf1MinuteFiles(b *testing.B) {
	lib, rec := open(b, day(b))
	spans, err := rec.Spans("live/day")
	if err != nil {
		b.Fatal(err)
	}
	from := spans[0].Start.Add(12*time.Hour + 30*time.Second)
	plan, err := playback.PlanHLS(lib, spans, from, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("playlist", func(b *testing.B) {
		for b.Loop() {
			plan, err := playback.PlanHLS(lib, spans, from, time.Hour)
			if err != nil || len(plan.Playlist(func(int, playback.Segment) string { return "s" }, true, 0)) < 1000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("segment", func(b *testing.B) {
		seg := plan.Segments[len(plan.Segments)/2]
		for b.Loop() {
			s, err := playback.ParseRef(spans, seg.Ref())
			if err != nil {
				b.Fatal(err)
			}
			if ts, err := playback.TS(lib, s); err != nil || len(ts) < 1000 {
				b.Fatalf("%d bytes, %v", len(ts), err)
			}
		}
	})
}
