package vod

import (
	"bytes"
	"fmt"
	"io"

	"github.com/relaycast/relaycast/format"
)

// Source holds the files a Playlist plays: the Library, or a Clip.
type Source interface {
	open(name string) (io.ReaderAt, io.Closer, *format.Index, error)
}

func (l *Library) open(name string) (io.ReaderAt, io.Closer, *format.Index, error) {
	f, ix, err := l.openIndexed(name)
	if err != nil {
		return nil, nil, nil, err
	}
	return f, f, ix, nil
}

// Clip is one file held in memory, such as the built-in demo, indexed once: a Playlist of
// it plays it as it plays a file of the library.
type Clip struct {
	name string
	data []byte
	ix   *format.Index
}

// NewClip indexes data (an MP4 or FLV) as the media name.
func NewClip(name string, data []byte) (*Clip, error) {
	ix, err := format.ReadIndex(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("clip %s: %w", name, err)
	}
	return &Clip{name: name, data: data, ix: ix}, nil
}

// Name is the clip's media name.
func (c *Clip) Name() string { return c.name }

func (c *Clip) open(name string) (io.ReaderAt, io.Closer, *format.Index, error) {
	if name != c.name {
		return nil, nil, nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return bytes.NewReader(c.data), io.NopCloser(nil), c.ix, nil
}
