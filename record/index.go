package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relaycast/relaycast/format"
)

// Span is one recording file on the wall clock.
type Span struct {
	File     string        `json:"file"`  // in the store: Dir/APP/NAME/TIME.mp4
	Start    time.Time     `json:"start"` // wall-clock time of the file's first frame
	Duration time.Duration `json:"duration"`
	Bytes    int64         `json:"bytes"`
	// Open: the file is being written (Duration and Bytes are so far), or was when the server
	// stopped without closing it; the next load reads what it holds.
	Open bool `json:"open,omitempty"`
}

// End is the wall-clock time of the span's end.
func (s Span) End() time.Time { return s.Start.Add(s.Duration) }

// Index is every path's recording files by wall-clock time, kept as the recorder writes them
// and as retention deletes them, so a question about a time range reads no directory. Each
// path's book is saved beside its files (Dir/APP/NAME/index.json) when a file opens, closes
// or goes. The first question about a path after a start loads it and checks it once against
// the files there: a file the book lacks (a lost book, files copied in) is read for its
// length and dated by its name; one it has open (a kill -9) is read for what it holds.
type Index struct {
	store Store
	dir   string
	log   *slog.Logger
	// writing says whether the recorder is writing a file, which it books itself
	writing func(file string) bool
	mu      sync.Mutex
	paths   map[string][]Span // loaded paths, by start
}

// indexFile is the name of a path's book in its folder.
const indexFile = "index.json"

func newIndex(store Store, dir string, log *slog.Logger, writing func(string) bool) *Index {
	return &Index{store: store, dir: dir, log: log, writing: writing, paths: map[string][]Span{}}
}

// Spans returns path's recording files, oldest first.
func (x *Index) Spans(streamPath string) ([]Span, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	spans, err := x.load(streamPath)
	return slices.Clone(spans), err
}

// opened books a file the recorder started.
func (x *Index) opened(streamPath string, s Span) {
	x.change(streamPath, func(spans []Span) []Span { return append(spans, s) }, true)
}

// grew notes how much of an open file is written; it is saved when the file closes.
func (x *Index) grew(streamPath, file string, d time.Duration, bytes int64) {
	x.change(streamPath, func(spans []Span) []Span {
		if i := find(spans, file); i >= 0 {
			spans[i].Duration, spans[i].Bytes = d, bytes
		}
		return spans
	}, false)
}

// closed books a file the recorder finished.
func (x *Index) closed(streamPath, file string, d time.Duration, bytes int64) {
	x.change(streamPath, func(spans []Span) []Span {
		if i := find(spans, file); i >= 0 {
			spans[i].Duration, spans[i].Bytes, spans[i].Open = d, bytes, false
		}
		return spans
	}, true)
}

// removed forgets a file retention (or a failed start) deleted.
func (x *Index) removed(file string) {
	streamPath, ok := x.pathOf(file)
	if !ok {
		return
	}
	x.change(streamPath, func(spans []Span) []Span {
		return slices.DeleteFunc(spans, func(s Span) bool { return s.File == file })
	}, true)
}

func (x *Index) change(streamPath string, f func([]Span) []Span, save bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	spans, err := x.load(streamPath)
	if err != nil {
		x.log.Warn("recording index not read", "path", streamPath, "err", err)
	}
	spans = f(spans)
	slices.SortStableFunc(spans, func(a, b Span) int { return a.Start.Compare(b.Start) })
	x.paths[streamPath] = spans
	if save {
		x.save(streamPath, spans)
	}
}

func find(spans []Span, file string) int {
	return slices.IndexFunc(spans, func(s Span) bool { return s.File == file })
}

// pathOf is the stream path of a recording file: Dir/APP/NAME/TIME.mp4 → APP/NAME.
func (x *Index) pathOf(file string) (string, bool) {
	rest, ok := strings.CutPrefix(file, x.dir+"/")
	if !ok {
		return "", false
	}
	return path.Dir(rest), true
}

func (x *Index) folder(streamPath string) string { return path.Join(x.dir, streamPath) }

// save writes path's book; a failure is logged: the files are still there, and the next
// start rebuilds the book from them.
func (x *Index) save(streamPath string, spans []Span) {
	b, err := json.Marshal(struct {
		Spans []Span `json:"spans"`
	}{spans})
	if err == nil {
		err = x.store.WriteFile(path.Join(x.folder(streamPath), indexFile), b)
	}
	if err != nil {
		x.log.Warn("recording index not saved", "path", streamPath, "err", err)
	}
}

// load returns path's book, reading it and checking it against the files the first time.
// The caller holds mu.
func (x *Index) load(streamPath string) ([]Span, error) {
	if spans, ok := x.paths[streamPath]; ok {
		return spans, nil
	}
	spans, err := x.read(streamPath)
	if err != nil {
		x.log.Warn("recording index rebuilt from the files", "path", streamPath, "err", err)
	}
	spans, changed, err := x.reconcile(streamPath, spans)
	if err != nil {
		return nil, err
	}
	x.paths[streamPath] = spans
	if changed {
		x.save(streamPath, spans)
	}
	return spans, nil
}

func (x *Index) read(streamPath string) ([]Span, error) {
	b, err := x.store.ReadFile(path.Join(x.folder(streamPath), indexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var book struct {
		Spans []Span `json:"spans"`
	}
	if err := json.Unmarshal(b, &book); err != nil {
		return nil, fmt.Errorf("%s: %w", indexFile, err)
	}
	return book.Spans, nil
}

// reconcile makes spans agree with the files in path's folder.
func (x *Index) reconcile(streamPath string, spans []Span) ([]Span, bool, error) {
	files, err := x.store.Files(x.folder(streamPath))
	if err != nil {
		return nil, false, err
	}
	on := map[string]bool{}
	changed := false
	for _, f := range files {
		if path.Dir(f.Name) != x.folder(streamPath) || path.Ext(f.Name) != ".mp4" {
			continue // a deeper path's files have their own book
		}
		i := find(spans, f.Name)
		if i >= 0 && !spans[i].Open || x.writing(f.Name) {
			on[f.Name] = true
			continue
		}
		s, err := x.scan(f, spans, i)
		if err != nil {
			// a file killed before its first fragment, or not ours: nothing in it plays
			x.log.Warn("recording left out of the index", "file", f.Name, "err", err)
			changed = true
			continue
		}
		on[f.Name] = true
		if i >= 0 {
			spans[i] = s
		} else {
			spans = append(spans, s)
		}
		changed = true
	}
	kept := slices.DeleteFunc(spans, func(s Span) bool { return !on[s.File] })
	changed = changed || len(kept) != len(spans)
	slices.SortStableFunc(kept, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return kept, changed, nil
}

// scan reads a file's length from the file: one the book had open keeps its start, one it
// lacks is dated by its name (to the second).
func (x *Index) scan(f File, spans []Span, i int) (Span, error) {
	s := Span{File: f.Name, Bytes: f.Size}
	if i >= 0 {
		s.Start = spans[i].Start
	} else {
		base := path.Base(f.Name) // TIME.mp4 or TIME-N.mp4
		t, err := time.ParseInLocation(nameLayout, base[:min(len(base), len(nameLayout))], time.Local)
		if err != nil {
			return s, fmt.Errorf("no start: %w", err)
		}
		s.Start = t
	}
	r, err := x.store.Open(f.Name)
	if err != nil {
		return s, err
	}
	defer r.Close()
	s.Duration, err = format.ReadDuration(r, f.Size)
	return s, err
}

// nameLayout is how a recording file is named, by the wall clock at its start.
const nameLayout = "2006-01-02_15-04-05"
