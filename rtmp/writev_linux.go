package rtmp

import (
	"net"
	"syscall"
	"unsafe"
)

// iovMax is the most buffers one writev takes (IOV_MAX).
const iovMax = 1024

// nbWriter writes to sockets without waiting: what a full socket does not take is left to
// the caller. One per shard; it keeps its scratch between writes so writing does not allocate.
type nbWriter struct {
	iov   []syscall.Iovec
	n     uintptr
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// write writes as much of bufs as the socket takes now and reports how much that was.
func (w *nbWriter) write(rc syscall.RawConn, bufs net.Buffers) (int, error) {
	if rc == nil {
		return 0, nil
	}
	if w.fn == nil {
		w.fn = w.writev
	}
	defer clear(w.iov) // hold no payload
	total := 0
	for len(bufs) > 0 {
		w.iov = w.iov[:0]
		bufs = w.fill(bufs)
		if len(w.iov) == 0 {
			break
		}
		want := 0
		for _, v := range w.iov {
			want += int(v.Len)
		}
		if err := rc.Write(w.fn); err != nil {
			return total, err
		}
		switch w.errno {
		case 0:
		case syscall.EAGAIN:
			return total, nil
		default:
			return total, w.errno
		}
		total += int(w.n)
		if int(w.n) < want {
			return total, nil
		}
	}
	return total, nil
}

// fill puts up to iovMax buffers of bufs into iov and returns the rest.
func (w *nbWriter) fill(bufs net.Buffers) net.Buffers {
	for len(bufs) > 0 && len(w.iov) < iovMax {
		if b := bufs[0]; len(b) > 0 {
			v := syscall.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			w.iov = append(w.iov, v)
		}
		bufs = bufs[1:]
	}
	return bufs
}

func (w *nbWriter) writev(fd uintptr) bool {
	for {
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
		if errno == syscall.EINTR {
			continue
		}
		w.n, w.errno = n, errno
		if errno != 0 {
			w.n = 0
		}
		return true
	}
}
