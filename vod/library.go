package vod

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relaycast/relaycast/format"
)

// Entry is one stored file.
type Entry struct {
	Name     string             `json:"name"` // the media name: its path under the media directory, without extension
	File     string             `json:"file"` // the file's path under the media directory
	Size     int64              `json:"size"`
	Duration float64            `json:"duration_seconds"`
	Created  time.Time          `json:"created"`
	Tracks   []format.FileTrack `json:"tracks"`
	modTime  time.Time
}

// Library is the media directory. Every file system call goes through an os.Root, so no
// name, symlink included, reaches outside the directory.
type Library struct {
	root *os.Root
	dir  string
	log  *slog.Logger

	mu      sync.Mutex
	probed  map[string]Entry  // by file, while its size and modification time stay
	indexes map[string]*index // likewise
}

type index struct {
	ix      *format.Index
	size    int64
	modTime time.Time

	segments []HLSSegment // HLS VOD segments

	remuxOnce sync.Once
	remux     *format.Remux
	remuxErr  error
}

// Open opens (and makes, if missing) the media directory.
func Open(dir string, log *slog.Logger) (*Library, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("media directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("media directory: %w", err)
	}
	return &Library{root: root, dir: dir, log: log, probed: map[string]Entry{}, indexes: map[string]*index{}}, nil
}

// Close releases the directory.
func (l *Library) Close() error { return l.root.Close() }

// List returns every playable file, by name. A file that does not play is left out and
// logged once.
func (l *Library) List() ([]Entry, error) {
	var out []Entry
	err := fs.WalkDir(l.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a directory that vanished or cannot be read: list the rest
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		name, _, err := SplitFile(p)
		if err != nil || !d.Type().IsRegular() {
			return nil // temporary uploads, other files, symlinks
		}
		if e, err := l.entry(name, p); err == nil {
			out = append(out, e)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// entry probes a file, or returns what probing it last time found.
func (l *Library) entry(name, file string) (Entry, error) {
	st, err := l.root.Stat(file)
	if err != nil {
		return Entry{}, err
	}
	l.mu.Lock()
	e, ok := l.probed[file]
	l.mu.Unlock()
	if ok && e.Size == st.Size() && e.modTime.Equal(st.ModTime()) {
		return e, nil
	}
	f, err := l.root.Open(file)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	info, err := format.Probe(f, st.Size())
	if err != nil {
		l.log.Warn("stored file does not play", "file", file, "err", err)
	}
	e = Entry{Name: name, File: file, Size: st.Size(), Duration: info.Duration.Seconds(),
		Created: st.ModTime().UTC(), Tracks: info.Tracks, modTime: st.ModTime()}
	l.mu.Lock()
	l.probed[file] = e
	l.mu.Unlock()
	return e, err
}

// Lookup returns the entry of a media name (without extension).
func (l *Library) Lookup(name string) (Entry, error) {
	if err := ValidateName(name); err != nil {
		return Entry{}, err
	}
	for _, ext := range Extensions {
		e, err := l.entry(name, name+ext)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Entry{}, err
		}
	}
	return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, name)
}

// Has says whether media name exists.
func (l *Library) Has(name string) bool {
	_, err := l.Lookup(name)
	return err == nil
}

// Open opens a stored file by its file name (NAME.mp4) for reading.
func (l *Library) Open(file string) (*os.File, Entry, error) {
	name, _, err := SplitFile(file)
	if err != nil {
		return nil, Entry{}, err
	}
	e, err := l.entry(name, file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Entry{}, fmt.Errorf("%w: %s", ErrNotFound, file)
	}
	if err != nil {
		return nil, Entry{}, err
	}
	f, err := l.root.Open(file)
	return f, e, err
}

// OpenIndexed opens a stored file by its file name (NAME.mp4) with its sample index, made
// once per version of the file and shared (a recording being written gets a new one as it
// grows).
func (l *Library) OpenIndexed(file string) (*os.File, *format.Index, error) {
	name, _, err := SplitFile(file)
	if err != nil {
		return nil, nil, err
	}
	return l.openIndexed(name)
}

// HLSCuts returns a stored file's sample index and its HLS VOD segments (CutHLS), both made
// once per version of the file and shared: a range of recordings is cut where its files are,
// so every viewer of a file reads the same segments of it.
func (l *Library) HLSCuts(file string) (*format.Index, []HLSSegment, error) {
	name, _, err := SplitFile(file)
	if err != nil {
		return nil, nil, err
	}
	f, c, _, err := l.indexed(name)
	if err != nil {
		return nil, nil, err
	}
	f.Close()
	return c.ix, c.segments, nil
}

// openIndexed opens the file of media name and returns its sample index, made once per
// version of the file and shared by its viewers.
func (l *Library) openIndexed(name string) (*os.File, *format.Index, error) {
	f, c, _, err := l.indexed(name)
	if err != nil {
		return nil, nil, err
	}
	return f, c.ix, nil
}

// remuxed is the layout of the file as a faststart MP4, made once per version of the file,
// when first asked for.
func (c *index) remuxed() (*format.Remux, error) {
	c.remuxOnce.Do(func() { c.remux, c.remuxErr = format.NewRemux(c.ix) })
	return c.remux, c.remuxErr
}

// indexed opens the file of media name and returns it with its cached index and its entry.
func (l *Library) indexed(name string) (*os.File, *index, Entry, error) {
	e, err := l.Lookup(name)
	if err != nil {
		return nil, nil, Entry{}, err
	}
	f, err := l.root.Open(e.File)
	if err != nil {
		return nil, nil, Entry{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, Entry{}, err
	}
	l.mu.Lock()
	c, ok := l.indexes[e.File]
	l.mu.Unlock()
	if ok && c.size == st.Size() && c.modTime.Equal(st.ModTime()) {
		return f, c, e, nil
	}
	ix, err := format.ReadIndex(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, Entry{}, err
	}
	c = &index{ix: ix, size: st.Size(), modTime: st.ModTime(), segments: CutHLS(ix)}
	l.mu.Lock()
	l.indexes[e.File] = c
	l.mu.Unlock()
	return f, c, e, nil
}

// Store writes a new file from r under a temporary name, checks that it plays, and only
// then renames it into place: a refused or cut-off upload leaves nothing behind. At most
// limit bytes are taken.
func (l *Library) Store(file string, r io.Reader, limit int64) (Entry, error) {
	name, _, err := SplitFile(file)
	if err != nil {
		return Entry{}, err
	}
	if dir := path.Dir(file); dir != "." {
		if err := l.root.MkdirAll(dir, 0o755); err != nil {
			return Entry{}, fmt.Errorf("store %s: %w", file, err)
		}
	}
	tmp := path.Join(path.Dir(file), fmt.Sprintf(".%s.upload-%d", path.Base(file), time.Now().UnixNano()))
	f, err := l.root.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", file, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			_ = l.root.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %s after %d bytes: %v", ErrCutOff, file, n, err)
	}
	if n > limit {
		return Entry{}, fmt.Errorf("%w: %s is larger than the upload limit of %d bytes", ErrTooLarge, file, limit)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Entry{}, err
	}
	info, err := format.Probe(f, n)
	if err != nil {
		return Entry{}, err
	}
	if info.Cut > 0 {
		return Entry{}, fmt.Errorf("%w: the file is cut short: its last whole fragment or tag ends at byte %d of %d", format.ErrUnplayable, info.Cut, n)
	}
	if err := f.Close(); err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", file, err)
	}
	done = true
	if err := l.root.Rename(tmp, file); err != nil {
		_ = l.root.Remove(tmp)
		return Entry{}, fmt.Errorf("store %s: %w", file, err)
	}
	l.log.Info("media stored", "file", file, "bytes", n, "duration", info.Duration)
	return l.entry(name, file)
}

// ErrTooLarge marks an upload over the limit; ErrCutOff one whose body ended early.
var (
	ErrTooLarge = errors.New("too large")
	ErrCutOff   = errors.New("upload cut off")
)

// Remove deletes a stored file.
func (l *Library) Remove(file string) error {
	if _, _, err := SplitFile(file); err != nil {
		return err
	}
	if err := l.root.Remove(file); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotFound, file)
		}
		return fmt.Errorf("remove %s: %w", file, err)
	}
	l.mu.Lock()
	delete(l.probed, file)
	delete(l.indexes, file)
	l.mu.Unlock()
	l.log.Info("media removed", "file", file)
	return nil
}

// IsUnplayable reports whether err says a file does not play (as opposed to an I/O error).
func IsUnplayable(err error) bool { return errors.Is(err, format.ErrUnplayable) }

// Create makes a new file for writing (a recording), and the folders it is in. It fails
// with fs.ErrExist if the file is there.
func (l *Library) Create(file string) (io.WriteCloser, error) {
	if _, _, err := SplitFile(file); err != nil {
		return nil, err
	}
	if err := l.root.MkdirAll(path.Dir(file), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", file, err)
	}
	f, err := l.root.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", file, err)
	}
	return f, nil
}

// ReadFile reads a file of the media directory whole, media or not (a recording index).
func (l *Library) ReadFile(file string) ([]byte, error) { return l.root.ReadFile(file) }

// WriteFile replaces a file of the media directory whole, through a temporary file renamed
// over it: a reader, or a server killed mid-write, never sees half of it. It does not sync:
// after a power loss the file may be empty (a recording index is rebuilt from its files).
func (l *Library) WriteFile(file string, data []byte) error {
	if err := l.root.MkdirAll(path.Dir(file), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	tmp := file + ".tmp"
	if err := l.root.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := l.root.Rename(tmp, file); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// OpenFile opens a file of the media directory for reading, media or not, without indexing it.
func (l *Library) OpenFile(file string) (*os.File, error) { return l.root.Open(file) }

// FileInfo is a file's name under the media directory, size and modification time.
type FileInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Files lists the regular files under dir with their sizes and times, oldest first; none
// if dir does not exist.
func (l *Library) Files(dir string) ([]FileInfo, error) {
	var out []FileInfo
	err := fs.WalkDir(l.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return fs.SkipAll
		}
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			out = append(out, FileInfo{Name: p, Size: info.Size(), ModTime: info.ModTime()})
		}
		return nil
	})
	slices.SortFunc(out, func(a, b FileInfo) int { return a.ModTime.Compare(b.ModTime) })
	return out, err
}
