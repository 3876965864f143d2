package rtmp

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// nonBlocking: sockets are written and read without waiting (see nbIO).
const nonBlocking = true

// iovMax is the most buffers one writev takes (IOV_MAX).
const iovMax = 1024

// nbIO writes to and reads from sockets without waiting: what a full socket does not take is
// left to the caller, and a read of a socket with nothing to say returns nothing. One per
// shard; it keeps its scratch between calls so neither allocates.
type nbIO struct {
	iov   []syscall.Iovec
	rbuf  []byte
	n     uintptr
	errno syscall.Errno
	wfn   func(fd uintptr) bool
	rfn   func(fd uintptr) bool
}

// write writes as much of bufs as the socket takes now and reports how much that was.
func (w *nbIO) write(rc syscall.RawConn, bufs net.Buffers) (int, error) {
	if rc == nil {
		return 0, nil
	}
	if w.wfn == nil {
		w.wfn = w.writev
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
		if err := rc.Write(w.wfn); err != nil {
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
func (w *nbIO) fill(bufs net.Buffers) net.Buffers {
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

func (w *nbIO) writev(fd uintptr) bool {
	w.call(syscall.SYS_WRITEV, fd, unsafe.Pointer(&w.iov[0]), len(w.iov))
	return true
}

// call makes a read or write system call on fd (again if a signal interrupted it) and keeps
// the result for the caller of RawConn.Read or Write.
func (w *nbIO) call(trap, fd uintptr, p unsafe.Pointer, n int) {
	for {
		r, _, errno := syscall.Syscall(trap, fd, uintptr(p), uintptr(n))
		if errno == syscall.EINTR {
			continue
		}
		w.n, w.errno = r, errno
		if errno != 0 {
			w.n = 0
		}
		return
	}
}

// read reads what the socket holds now into buf: 0, nil when it holds nothing, io.EOF once
// the peer has closed.
func (w *nbIO) read(rc syscall.RawConn, buf []byte) (int, error) {
	if w.rfn == nil {
		w.rfn = w.readNow
	}
	w.rbuf = buf
	err := rc.Read(w.rfn)
	w.rbuf = nil
	if err != nil {
		return 0, err
	}
	switch {
	case w.errno == syscall.EAGAIN:
		return 0, nil
	case w.errno != 0:
		return 0, w.errno
	case w.n == 0:
		return 0, io.EOF
	}
	return int(w.n), nil
}

func (w *nbIO) readNow(fd uintptr) bool {
	w.call(syscall.SYS_READ, fd, unsafe.Pointer(&w.rbuf[0]), len(w.rbuf))
	return true
}
