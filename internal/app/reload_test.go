package app_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/rtmp"
)

const reloadBefore = `
publish_keys:
  live/show: old
  live/other: old
paths:
  live/show:
    record: false
`

const reloadAfter = `
publish_keys:
  live/show: new
  live/other: new
paths:
  live/show:
    record: true
`

// writeConfig replaces the configuration file the way an editor does: a new file renamed
// over the old one.
func writeConfig(t *testing.T, srv *testenv.Server, yaml string) {
	t.Helper()
	tmp := srv.ConfigFile + ".new"
	if err := os.WriteFile(tmp, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, srv.ConfigFile); err != nil {
		t.Fatal(err)
	}
}

// publishRefused tries to publish path with key and reports whether the server refused it.
func publishRefused(t *testing.T, srv *testenv.Server, path, key string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := rtmp.Publish(ctx, srv.URL(path+"?key="+key), nil)
	if err != nil {
		return true
	}
	p.Close()
	return false
}

// Changing a publish key and a path's record setting in the YAML file, while ffmpeg
// publishes and another ffmpeg plays, applies both without the player losing a picture: the
// old key is refused and the new one accepted, and the path starts recording. A broken file
// is logged with the key it breaks, and changes nothing.
func TestReloadAppliesKeysAndRecordingWhilePlaying(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	srv := testenv.Start(t, testenv.Options{YAML: reloadBefore})
	testenv.PublishSample(t, srv.URL("live/show?key=old"))
	testenv.WaitLive(t, srv, "live/show", 10*time.Second)
	const window = 12 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	played := make(chan testenv.Decode, 1)
	go func() { played <- testenv.FFmpegDecode(ctx, t, srv.URL("live/show"), window) }()

	if publishRefused(t, srv, "live/other", "old") {
		t.Fatal("live/other refused its key before the reload")
	}
	time.Sleep(4 * time.Second)
	writeConfig(t, srv, reloadAfter)
	srv.WaitLog(t, 5*time.Second, "configuration reloaded", "publish_keys")
	if !publishRefused(t, srv, "live/other", "old") {
		t.Error("the old key is still accepted after the reload")
	}
	if publishRefused(t, srv, "live/other", "new") {
		t.Error("the new key is refused after the reload")
	}
	for deadline := time.Now().Add(3 * time.Second); !slices.Contains(srv.Record.Recording(), "live/show"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("live/show not recorded after the reload: %v", srv.Record.Recording())
		}
	}

	writeConfig(t, srv, reloadAfter+"grace: lots\n")
	srv.WaitLog(t, 5*time.Second, "configuration not reloaded", "grace")
	if publishRefused(t, srv, "live/other", "new") || !publishRefused(t, srv, "live/other", "old") {
		t.Error("a broken file changed the keys")
	}
	if !slices.Contains(srv.Record.Recording(), "live/show") {
		t.Error("a broken file stopped the recording")
	}

	d := <-played
	want := int(window.Seconds() * 30 * 0.99)
	if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < want {
		t.Fatalf("the player across the reloads: exit %v, %d pictures (want ≥ %d), warnings:\n%s", d.Err, d.Frames, want, strings.Join(w, "\n"))
	}
	if stall := d.LongestStall(window); stall > time.Second {
		t.Errorf("the player stalled %v across the reloads", stall)
	}
}
