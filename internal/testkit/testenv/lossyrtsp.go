package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// LossyRTSP is an RTSP proxy whose UDP transport crosses lossy links: each SETUP gets a
// LossyUDP pair (RTP, RTCP) and the Transport headers are rewritten to go through it. Up is
// the player's or publisher's direction to the server.
type LossyRTSP struct {
	Addr     string
	target   string
	up, down Link
	t        testing.TB
	ln       net.Listener

	mu    sync.Mutex
	seed  uint64
	links []*LossyUDP
	conns []net.Conn
	wg    sync.WaitGroup
}

// NewLossyRTSP starts a proxy to the RTSP server at target (host:port) on a free loopback
// port; the test's cleanup stops it.
func NewLossyRTSP(t testing.TB, target string, up, down Link, seed uint64) *LossyRTSP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &LossyRTSP{Addr: ln.Addr().String(), target: target, up: up, down: down, t: t, ln: ln, seed: seed}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Stats sums the RTP and RTCP datagrams of every SETUP so far, each direction.
func (p *LossyRTSP) Stats() (up, down LinkStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		u, d := l.Stats()
		up.Passed, up.Dropped = up.Passed+u.Passed, up.Dropped+u.Dropped
		down.Passed, down.Dropped = down.Passed+d.Passed, down.Dropped+d.Dropped
	}
	return up, down
}

func (p *LossyRTSP) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *LossyRTSP) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		pairs := make(chan [2]*LossyUDP, 16) // a SETUP's links, for its response
		p.wg.Go(func() { p.copyLines(s, c, func(l string) string { return p.request(l, pairs) }) })
		p.wg.Go(func() { p.copyLines(c, s, func(l string) string { return p.response(l, pairs) }) })
	}
}

// copyLines copies the text of RTSP messages (UDP transport: nothing binary on the
// connection) line by line, rewriting the Transport headers.
func (p *LossyRTSP) copyLines(dst io.WriteCloser, src io.ReadCloser, rewrite func(string) string) {
	defer dst.Close()
	defer src.Close()
	r := bufio.NewReader(src)
	for {
		l, err := r.ReadString('\n')
		if strings.HasPrefix(strings.ToLower(l), "transport:") {
			l = rewrite(l)
		}
		if _, werr := io.WriteString(dst, l); err != nil || werr != nil {
			return
		}
	}
}

var (
	clientPort = regexp.MustCompile(`client_port=(\d+)-(\d+)`)
	serverPort = regexp.MustCompile(`server_port=(\d+)-(\d+)`)
)

// request puts a SETUP's client ports behind a new pair of lossy links.
func (p *LossyRTSP) request(l string, pairs chan [2]*LossyUDP) string {
	m := clientPort.FindStringSubmatch(l)
	if m == nil {
		return l
	}
	p.mu.Lock()
	p.seed++
	rtp := NewLossyUDP(p.t, "", p.up, p.down, p.seed)
	rtcp := NewLossyUDP(p.t, "", p.up, p.down, p.seed+1000)
	p.links = append(p.links, rtp, rtcp)
	p.mu.Unlock()
	rtp.SetCaller("127.0.0.1:" + m[1])
	rtcp.SetCaller("127.0.0.1:" + m[2])
	pairs <- [2]*LossyUDP{rtp, rtcp}
	return clientPort.ReplaceAllString(l, fmt.Sprintf("client_port=%d-%d", port(rtp.PeerAddr), port(rtcp.PeerAddr)))
}

// response points the pair of its SETUP at the server's ports and the player at the pair.
func (p *LossyRTSP) response(l string, pairs chan [2]*LossyUDP) string {
	m := serverPort.FindStringSubmatch(l)
	if m == nil {
		return l
	}
	var pair [2]*LossyUDP
	select {
	case pair = <-pairs:
	default:
		return l
	}
	pair[0].SetTarget("127.0.0.1:" + m[1])
	pair[1].SetTarget("127.0.0.1:" + m[2])
	l = serverPort.ReplaceAllString(l, fmt.Sprintf("server_port=%d-%d", port(pair[0].Addr), port(pair[1].Addr)))
	return clientPort.ReplaceAllStringFunc(l, func(string) string {
		return "client_port=" + strconv.Itoa(port(pair[0].callerAddr())) + "-" + strconv.Itoa(port(pair[1].callerAddr()))
	})
}

func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}
