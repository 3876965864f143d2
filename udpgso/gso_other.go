//go:build !linux

package udpgso

import (
	"errors"
	"net"
	"net/netip"
)

func gsoSupported(*net.UDPConn) bool { return false }

func (c *Conn) sendSegments([]byte, int, netip.AddrPort) error {
	return errors.New("udp: no segmentation offload")
}

func segmentsRefused(err error) bool { return err != nil }
