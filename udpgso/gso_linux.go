package udpgso

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoSupported asks the socket for its segment size, which kernels without UDP GSO refuse.
func gsoSupported(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return false
	}
	return serr == nil
}

// segmentOOB is the control message that sets the segment size of one send.
func segmentOOB(buf *[unix.SizeofCmsghdr + 8]byte, seg int) []byte {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&buf[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(buf[unix.CmsgLen(0):], uint16(seg))
	return buf[:unix.CmsgSpace(2)]
}

func (c *Conn) sendSegments(b []byte, seg int, addr netip.AddrPort) error {
	var oob [unix.SizeofCmsghdr + 8]byte
	_, _, err := c.WriteMsgUDPAddrPort(b, segmentOOB(&oob, seg), addr)
	return err
}

// segmentsRefused tells a send the device cannot segment (EIO, as quic-go finds it).
func segmentsRefused(err error) bool { return errors.Is(err, unix.EIO) }
