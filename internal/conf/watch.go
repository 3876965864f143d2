package conf

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long a file must stay unchanged before a change counts: editors write a file
// in several steps (truncate, write, rename over it).
const settle = 200 * time.Millisecond

// Watch calls changed each time file has been written, created or replaced, once it has
// settled, until ctx ends. It watches the file's directory, so a file an editor replaces by
// renaming another over it, or one that is deleted and made again, is still followed.
func Watch(ctx context.Context, file string, changed func()) error {
	fw, err := WatchFile(file)
	if err != nil {
		return err
	}
	return fw.Run(ctx, changed)
}

// FileWatch follows one file from the moment WatchFile returns.
type FileWatch struct {
	w   *fsnotify.Watcher
	abs string
}

// WatchFile starts following file; Run reports its changes.
func WatchFile(file string) (*FileWatch, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("config watch: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("config watch: %w", err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return nil, fmt.Errorf("config watch %s: %w", filepath.Dir(abs), err)
	}
	return &FileWatch{w: w, abs: abs}, nil
}

// Run calls changed for each change of the file, once it has settled, until ctx ends; then
// it stops following the file.
func (fw *FileWatch) Run(ctx context.Context, changed func()) error {
	w, abs := fw.w, fw.abs
	defer w.Close()
	timer := time.NewTimer(settle)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) == abs && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				timer.Reset(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			return fmt.Errorf("config watch: %w", err)
		case <-timer.C:
			changed()
		}
	}
}
