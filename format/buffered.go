package format

import (
	"errors"
	"io"
)

// bufferSize is how much a buffered reader reads at once: a fragment's moof and more.
const bufferSize = 64 << 10

// buffered reads a file through a buffer: go-mp4 reads a box a few bytes (even bits) at a
// time, which on a file is a system call each (40 ms for a minute of recording, 57 s for a
// day of them).
type buffered struct {
	r     io.ReaderAt
	size  int64
	pos   int64  // where the next Read reads
	start int64  // the file offset of buf[0]
	buf   []byte // what was read from start
}

func newBuffered(r io.ReaderAt, size int64) *buffered { return &buffered{r: r, size: size} }

func (b *buffered) Read(p []byte) (int, error) {
	if b.pos < b.start || b.pos >= b.start+int64(len(b.buf)) {
		if b.pos >= b.size {
			return 0, io.EOF
		}
		if len(p) >= bufferSize {
			n, err := b.r.ReadAt(p, b.pos)
			b.pos += int64(n)
			if n > 0 && errors.Is(err, io.EOF) {
				err = nil
			}
			return n, err
		}
		if b.buf == nil {
			b.buf = make([]byte, bufferSize)
		}
		n, err := b.r.ReadAt(b.buf[:cap(b.buf)], b.pos)
		b.buf, b.start = b.buf[:n], b.pos
		if n == 0 {
			if err == nil {
				err = io.EOF
			}
			return 0, err
		}
	}
	n := copy(p, b.buf[b.pos-b.start:])
	b.pos += int64(n)
	return n, nil
}

func (b *buffered) Seek(off int64, whence int) (int64, error) {
	pos, err := seekTo(b.pos, b.size, off, whence)
	if err == nil {
		b.pos = pos
	}
	return pos, err
}

// seekTo is where an io.Seeker at pos in size bytes goes for Seek(off, whence).
func seekTo(pos, size, off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += pos
	case io.SeekEnd:
		off += size
	case io.SeekStart:
	default:
		return pos, errors.New("format: bad whence")
	}
	if off < 0 {
		return pos, errors.New("format: seek before the start")
	}
	return off, nil
}

func (b *buffered) ReadAt(p []byte, off int64) (int, error) { return b.r.ReadAt(p, off) }
