package record

import (
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// memStore is a Store of names, sizes and times only.
type memStore struct{ files []File }

func (m *memStore) Create(string) (io.WriteCloser, error)  { panic("not used") }
func (m *memStore) Files(string) ([]File, error)           { return slices.Clone(m.files), nil }
func (m *memStore) ReadFile(string) ([]byte, error)        { return nil, fs.ErrNotExist }
func (m *memStore) WriteFile(string, []byte) error         { return nil }
func (m *memStore) Open(string) (io.ReadSeekCloser, error) { panic("not used") }
func (m *memStore) Remove(name string) error {
	m.files = slices.DeleteFunc(m.files, func(f File) bool { return f.Name == name })
	return nil
}

func (m *memStore) names() []string {
	var out []string
	for _, f := range m.files {
		out = append(out, f.Name)
	}
	return out
}

func TestRetentionRemovesTheOldAndTheOldestOverTheLimitButNotWhatIsWritten(t *testing.T) {
	now := time.Now()
	files := func() *memStore {
		return &memStore{files: []File{
			{Name: "a.mp4", Size: 100, ModTime: now.Add(-3 * time.Hour)},
			{Name: "b.mp4", Size: 100, ModTime: now.Add(-2 * time.Hour)},
			{Name: "c.mp4", Size: 100, ModTime: now.Add(-time.Hour)},
			{Name: "d.mp4", Size: 100, ModTime: now},
			{Name: "index.json", Size: 1000, ModTime: now.Add(-4 * time.Hour)}, // a book stays
		}}
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		writing string
		want    []string
	}{
		{name: "keep for ever", cfg: Config{}, want: []string{"a.mp4", "b.mp4", "c.mp4", "d.mp4", "index.json"}},
		{name: "older than 90 minutes", cfg: Config{DeleteAfter: 90 * time.Minute}, want: []string{"c.mp4", "d.mp4", "index.json"}},
		{name: "at most 250 bytes", cfg: Config{MaxBytes: 250}, want: []string{"c.mp4", "d.mp4", "index.json"}},
		{name: "both", cfg: Config{DeleteAfter: 150 * time.Minute, MaxBytes: 150}, want: []string{"d.mp4", "index.json"}},
		{name: "the file being written stays", cfg: Config{MaxBytes: 1}, writing: "a.mp4", want: []string{"a.mp4", "index.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := files()
			r := New(tc.cfg, store, slog.New(slog.DiscardHandler))
			if tc.writing != "" {
				r.writing[tc.writing] = true
			}
			r.sweep()
			if got := store.names(); !slices.Equal(got, tc.want) {
				t.Errorf("left %v, want %v", got, tc.want)
			}
		})
	}
}

// A path recorded for its DVR window alone loses its files once they end before the window;
// other paths keep theirs.
func TestRetentionKeepsADVRPathsWindowOnly(t *testing.T) {
	now := time.Now()
	store := &memStore{files: []File{
		{Name: "recordings/live/dvr/old.mp4", Size: 1, ModTime: now.Add(-3 * time.Minute)},
		{Name: "recordings/live/dvr/new.mp4", Size: 1, ModTime: now.Add(-time.Minute)},
		{Name: "recordings/live/kept/old.mp4", Size: 1, ModTime: now.Add(-time.Hour)},
	}}
	cfg := DefaultConfig()
	cfg.Window = func(path string) time.Duration {
		if path == "live/dvr" {
			return 2 * time.Minute
		}
		return 0
	}
	New(cfg, store, slog.New(slog.DiscardHandler)).sweep()
	if got, want := store.names(), []string{"recordings/live/dvr/new.mp4", "recordings/live/kept/old.mp4"}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
}
