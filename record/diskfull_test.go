package record_test

import (
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/record"
	"github.com/relaycast/relaycast/relay"
)

// fullDisk is a store in a folder whose writes fail with ENOSPC while full is set, the first
// of them after writing half of what it was given, as a filling disk does.
type fullDisk struct {
	dir  string
	full atomic.Bool
}

func (d *fullDisk) Create(file string) (io.WriteCloser, error) {
	name := filepath.Join(d.dir, file)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &fillingFile{File: f, d: d}, nil
}

func (d *fullDisk) Remove(file string) error { return os.Remove(filepath.Join(d.dir, file)) }
func (d *fullDisk) ReadFile(file string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.dir, file))
}
func (d *fullDisk) WriteFile(file string, b []byte) error {
	return os.WriteFile(filepath.Join(d.dir, file), b, 0o644)
}
func (d *fullDisk) Open(file string) (io.ReadSeekCloser, error) {
	return os.Open(filepath.Join(d.dir, file))
}

func (d *fullDisk) Files(dir string) ([]record.File, error) {
	var out []record.File
	err := filepath.WalkDir(filepath.Join(d.dir, dir), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.dir, p)
		out = append(out, record.File{Name: rel, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	return out, err
}

type fillingFile struct {
	*os.File
	d      *fullDisk
	halved bool
}

func (f *fillingFile) Write(p []byte) (int, error) {
	if !f.d.full.Load() {
		return f.File.Write(p)
	}
	if !f.halved {
		f.halved = true
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

// The disk fills for 3 s in the middle of a 9 s recording: the live stream's viewer gets
// every frame, the recorder logs once that it paused and once that it resumed, and leaves
// two files that play to the end of what they hold: the first cut back to its last whole
// fragment, the second from the first keyframe after the disk took writes again.
func TestAFullDiskPausesTheRecordingAndItResumes(t *testing.T) {
	disk := &fullDisk{dir: t.TempDir()}
	logs := &testenv.SyncBuffer{}
	cfg := record.DefaultConfig()
	cfg.Enabled = func(string) bool { return true }
	cfg.FragmentEvery, cfg.RetryEvery = 500*time.Millisecond, 500*time.Millisecond
	rec := record.New(cfg, disk, slog.New(slog.NewTextHandler(logs, nil)))
	relays := relay.NewRegistry(relay.DefaultConfig())
	rec.Watch(relays)
	pub, err := relays.Publish("live/full")
	if err != nil {
		t.Fatal(err)
	}
	viewer := pub.Stream().NewReader()
	defer viewer.Close()
	got := make(chan int)
	go func() { // a live viewer, reading as the frames come
		n := 0
		for {
			if _, err := viewer.Next(t.Context()); err != nil {
				got <- n
				return
			}
			n++
		}
	}()

	frames, err := mediatest.DemoFrames()
	if err != nil {
		t.Fatal(err)
	}
	loop := mediatest.NewLooper(frames)
	var sent int
	publish := func(d time.Duration) { // at 10 times real time: the recorder keeps up
		start := time.Now()
		var first time.Duration = -1
		for {
			f := *loop.Next()
			if first < 0 {
				first = f.DTS
			}
			if f.DTS-first >= d {
				return
			}
			if err := pub.WriteFrame(&f); err != nil {
				t.Fatal(err)
			}
			sent++
			time.Sleep(time.Until(start.Add((f.DTS - first) / 10)))
		}
	}
	publish(3 * time.Second)
	disk.full.Store(true)
	publish(3 * time.Second)
	disk.full.Store(false)
	time.Sleep(cfg.RetryEvery) // the retry comes by the wall clock
	publish(3 * time.Second)
	pub.Close()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	relays.Close()

	if n := <-got; n != sent || viewer.Dropped() > 0 {
		t.Errorf("the viewer got %d of %d frames (%d dropped)", n, sent, viewer.Dropped())
	}
	log := logs.String()
	if n := strings.Count(log, "recording paused"); n != 1 {
		t.Errorf("%d lines say the recording paused, want 1:\n%s", n, log)
	}
	if n := strings.Count(log, "recording resumed"); n != 1 {
		t.Errorf("%d lines say the recording resumed, want 1:\n%s", n, log)
	}
	files, _ := filepath.Glob(filepath.Join(disk.dir, "recordings", "live", "full", "*.mp4"))
	slices.Sort(files)
	if len(files) != 2 {
		t.Fatalf("recordings %v, want 2 files:\n%s", files, log)
	}
	for i, file := range files {
		d, key := probe(t, file)
		t.Logf("%s: %v", filepath.Base(file), d)
		if !key || d < 2*time.Second || d > 3500*time.Millisecond {
			t.Errorf("file %d: %v long (want 2–3.5 s), starts with a keyframe: %v", i, d, key)
		}
		decodesCleanly(t, file, d, int(d.Seconds()*25))
	}
}
