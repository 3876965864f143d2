//go:build !linux

package rtmp

import (
	"net"
	"syscall"
)

// nbWriter has no non-blocking write here: every write goes to a goroutine of its own.
type nbWriter struct{}

func (w *nbWriter) write(syscall.RawConn, net.Buffers) (int, error) { return 0, nil }
