package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// checkRecordingSoFar checks the first recording of path so far: the streams want, and at least
// 4 s of pictures decoded without a warning.
func checkRecordingSoFar(ctx context.Context, t *testing.T, srv *testenv.Server, path string, want []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(srv.Config().MediaDir, "recordings", path, "*.mp4"))
	if len(files) == 0 {
		t.Fatalf("no recording of %s", path)
	}
	rec := files[0]
	if fi, err := os.Stat(rec); err != nil || fi.Size() < 100_000 {
		t.Fatalf("recording %s: %v", rec, err)
	}
	got := testenv.FFprobeStreams(ctx, t, rec)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("recording: streams %v, want %v", got, want)
	}
	d := testenv.FFmpegDecode(ctx, t, rec, time.Hour, "-loglevel", "warning")
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < 30*4 {
		t.Errorf("recording: exit %v, %d pictures, warnings:\n%s", d.Err, d.Frames, strings.Join(w, "\n"))
	}
}
