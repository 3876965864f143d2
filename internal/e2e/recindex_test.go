package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

type recordingsList = testenv.Recordings

func listRecordings(t *testing.T, srv *testenv.Server, path string) recordingsList {
	t.Helper()
	return testenv.ListRecordings(t, srv.HTTPURL("/api/v1/recordings/"+path))
}

// checkSpans checks a path's book against its files: one after the other on the wall clock,
// without gaps, each as long as ffprobe says (within a frame), the first starting within
// the publish.
func checkSpans(ctx context.Context, t *testing.T, media string, l recordingsList, from, to time.Time) {
	t.Helper()
	if len(l.Segments) < 2 || len(l.Gaps) > 0 {
		t.Fatalf("recordings: %d files, %d gaps; want several files and no gap: %+v", len(l.Segments), len(l.Gaps), l)
	}
	for i, s := range l.Segments {
		if s.Start.Before(from.Add(-time.Second)) || s.End.After(to.Add(time.Second)) {
			t.Errorf("file %d runs %v–%v, outside the publish %v–%v", i, s.Start, s.End, from, to)
		}
		if i > 0 {
			if d := s.Start.Sub(l.Segments[i-1].End); d.Abs() > 100*time.Millisecond {
				t.Errorf("file %d starts %v after the one before ends, want within 100 ms", i, d)
			}
		}
		got := time.Duration(s.Duration * float64(time.Second))
		if want := testenv.ProbeDuration(ctx, t, filepath.Join(media, s.File)); (got - want).Abs() > 34*time.Millisecond {
			t.Errorf("file %d: %v in the book, %v by ffprobe", i, got, want)
		}
	}
}

// The book of recordings answers from the recorder's own notes: each file's wall-clock start
// and length, one after the other. It is the same after a restart; after a kill -9 the file
// that was being written is read back for what it holds; retention's deletions leave it.
func TestRecordingsBookSurvivesRestartAndKillAndFollowsRetention(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	media := t.TempDir()
	recording := func(c *conf.Config) {
		c.MediaDir, c.Record, c.RecordSegment = media, true, 4*time.Second
	}
	const path = "live/book"

	// a kill -9 while a file is written
	bin := testenv.GoBuild(t, "github.com/relaycast/relaycast/cmd/relaycast")
	server := testenv.StartProc(t, bin, "-demo=false", "-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-srt", "", "-webrtc", "", "-rtsp-rtp-port", "0", "-rtmps", "", "-rtsps", "", "-https", "",
		"-media-dir", media, "-record", "-record-segment", "4s")
	rtmpAddr := waitListening(t, server)
	from := time.Now()
	pub := testenv.PublishSample(t, "rtmp://"+rtmpAddr+"/"+path)
	time.Sleep(7500 * time.Millisecond) // the second file, from 4 s on, has fragments
	server.Kill()
	killed := time.Now()
	pub.Kill()

	srv := testenv.Start(t, testenv.Options{Conf: recording})
	afterKill := listRecordings(t, srv, path)
	checkSpans(ctx, t, media, afterKill, from, killed)
	if last := afterKill.Segments[len(afterKill.Segments)-1]; last.Writing || last.Duration < 1.5 {
		t.Errorf("the file written at the kill: %+v, want it read back, closed", last)
	}

	// a restart: the same book
	restarted := testenv.Start(t, testenv.Options{Conf: recording})
	if again := listRecordings(t, restarted, path); fmt.Sprint(again) != fmt.Sprint(afterKill) {
		t.Errorf("after a restart the book reads\n%+v\nwas\n%+v", again, afterKill)
	}

	// retention: the oldest goes, from the book too
	var total int64
	for _, s := range afterKill.Segments {
		total += s.Bytes
	}
	tidy := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		recording(c)
		c.RecordMaxBytes = int(total - afterKill.Segments[0].Bytes)
	}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := listRecordings(t, tidy, path)
		if len(l.Segments) == len(afterKill.Segments)-1 && l.Segments[0].File == afterKill.Segments[1].File {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after retention the book reads %+v; want all but the oldest of %+v", l, afterKill)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitListening waits for a relaycast process to log its RTMP address.
func waitListening(t *testing.T, p *testenv.Proc) string {
	t.Helper()
	re := regexp.MustCompile(`msg="relaycast listening" rtmp=(\S+)`)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := re.FindStringSubmatch(p.Stderr()); m != nil {
			return m[1]
		}
		if p.Exited() {
			t.Fatalf("relaycast exited:\n%s", p.Stderr())
		}
	}
	t.Fatalf("relaycast did not listen in 20 s:\n%s", p.Stderr())
	return ""
}
