//go:build !linux

package rtmp

import (
	"net"
	"syscall"
)

// nonBlocking is false here: every write goes to a goroutine of its own, and each player has
// a goroutine reading what it sends.
const nonBlocking = false

type nbIO struct{}

func (w *nbIO) write(syscall.RawConn, net.Buffers) (int, error) { return 0, nil }

func (w *nbIO) read(syscall.RawConn, []byte) (int, error) { return 0, nil }
