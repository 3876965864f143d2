package rtsp

import (
	"fmt"
	"net"
	"strconv"
	"sync"
)

// udpPorts are the RTP and RTCP sockets, bound when the server is built so that a port in
// use is an error at start and no other socket (another server's :0) can take them between
// the check and Serve. gortsplib gets them through its ListenPacket and owns them from then.
type udpPorts struct {
	mu    sync.Mutex
	conns map[string]net.PacketConn // by local address, until handed to gortsplib
}

// ListenUDP binds the configured RTP/RTCP ports on host; with none configured it does nothing.
func (s *Server) ListenUDP(host string) error {
	if s.cfg.RTPPort == 0 {
		return nil
	}
	s.udp.conns = make(map[string]net.PacketConn, 2)
	for _, p := range []struct {
		field string
		port  int
	}{{"rtsp_rtp_port", s.cfg.RTPPort}, {"rtsp_rtcp_port", s.cfg.RTCPPort}} {
		addr := net.JoinHostPort(host, strconv.Itoa(p.port))
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			s.udp.close()
			return fmt.Errorf("%s listen %s (UDP): %w", p.field, addr, err)
		}
		s.udp.conns[addr] = c
	}
	return nil
}

// listenPacket hands gortsplib a socket bound by ListenUDP, or opens the one it asks for
// (multicast writers).
func (u *udpPorts) listenPacket(network, addr string) (net.PacketConn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c, ok := u.conns[addr]; ok {
		delete(u.conns, addr)
		return c, nil
	}
	return net.ListenPacket(network, addr)
}

// close closes the sockets gortsplib never took.
func (u *udpPorts) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for addr, c := range u.conns {
		_ = c.Close()
		delete(u.conns, addr)
	}
}
