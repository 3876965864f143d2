package testenv

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
)

// Link is how one direction of a lossy link treats each datagram. These machines have no
// netem: a test puts a LossyUDP between a UDP peer and the server instead.
type Link struct {
	Loss   float64       // the fraction of datagrams dropped, at random
	Delay  time.Duration // added to every datagram
	Jitter time.Duration // up to this much more, at random: later datagrams may overtake
	// Drop lists datagrams to drop whatever Loss says, by number (the first is 1): a lost
	// handshake packet on demand.
	Drop []int
	// Rate, when set, is the link's capacity in bits per second, as at a bottleneck router:
	// datagrams leave in order, one after another, and one that would queue longer than
	// Queue (0: 200 ms) is dropped.
	Rate  int
	Queue time.Duration
}

// queued is a datagram on a rate-limited link, due to leave at due.
type queued struct {
	b   []byte
	to  *net.UDPAddr
	due time.Time
}

// LinkStats counts one direction's datagrams.
type LinkStats struct{ Passed, Dropped int64 }

// LossyUDP relays datagrams between one caller and one target, each direction through its
// own Link. It sends to the target from a socket of its own (PeerAddr), as a NAT would; the
// caller is whoever sent to Addr last.
type LossyUDP struct {
	Addr     string // where the caller sends
	PeerAddr string // where the target sees the caller's datagrams come from
	up, down Link   // caller to target, target to caller
	conn     *net.UDPConn
	peer     *net.UDPConn

	mu       sync.Mutex
	rnd      *rand.Rand
	target   *net.UDPAddr
	caller   *net.UDPAddr
	upStats  LinkStats
	dnStats  LinkStats
	upSeen   int
	dnSeen   int
	free     [2]time.Time // when each rate-limited direction (down, up) has sent its queue
	queues   [2]chan queued
	done     chan struct{}
	closed   atomic.Bool
	wg       sync.WaitGroup
	inFlight sync.WaitGroup
}

// NewLossyUDP starts a relay to the UDP address target ("": set later with SetTarget) on
// free loopback ports; the test's cleanup stops it. seed makes the pattern of losses
// repeatable.
func NewLossyUDP(t testing.TB, target string, up, down Link, seed uint64) *LossyUDP {
	t.Helper()
	return NewLossyUDPOn(t, "127.0.0.1:0", target, up, down, seed)
}

// NewLossyUDPOn is NewLossyUDP with the caller's side on addr: a test may put the relay at
// the address a server tells its peers (a WebRTC host candidate's).
func NewLossyUDPOn(t testing.TB, addr, target string, up, down Link, seed uint64) *LossyUDP {
	t.Helper()
	listen := func(addr string) *net.UDPConn {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.ListenUDP("udp", ua)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	l := &LossyUDP{up: up, down: down, conn: listen(addr), peer: listen("127.0.0.1:0"),
		rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), done: make(chan struct{})}
	for i := range l.queues {
		l.queues[i] = make(chan queued, 8192)
		out := l.conn
		if i == 1 {
			out = l.peer
		}
		l.wg.Go(func() { l.drain(l.queues[i], out) })
	}
	l.Addr, l.PeerAddr = l.conn.LocalAddr().String(), l.peer.LocalAddr().String()
	if target != "" {
		if err := l.SetTarget(target); err != nil {
			t.Fatal(err)
		}
	}
	l.wg.Go(func() { l.relay(l.conn, true) })
	l.wg.Go(func() { l.relay(l.peer, false) })
	t.Cleanup(l.Close)
	return l
}

// SetTarget sets where the caller's datagrams go.
func (l *LossyUDP) SetTarget(target string) error {
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.target = ta
	l.mu.Unlock()
	return nil
}

// SetLinks changes how each direction treats the datagrams from now on.
func (l *LossyUDP) SetLinks(up, down Link) {
	l.mu.Lock()
	l.up, l.down = up, down
	l.mu.Unlock()
}

// SetCaller sets where the target's datagrams go before the caller has sent any (an RTSP
// player, which sends nothing until its first receiver report).
func (l *LossyUDP) SetCaller(caller string) error {
	ca, err := net.ResolveUDPAddr("udp", caller)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.caller = ca
	l.mu.Unlock()
	return nil
}

func (l *LossyUDP) callerAddr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.caller == nil {
		return ""
	}
	return l.caller.String()
}

// Stats returns the counts of each direction so far.
func (l *LossyUDP) Stats() (up, down LinkStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.upStats, l.dnStats
}

// Close stops the relay and waits for its goroutines and the datagrams still in flight.
func (l *LossyUDP) Close() {
	if l.closed.Swap(true) {
		return
	}
	l.conn.Close()
	l.peer.Close()
	close(l.done)
	l.wg.Wait()
	l.inFlight.Wait()
}

// relay reads the datagrams of one side (up: the caller's) and forwards them to the other.
func (l *LossyUDP) relay(c *net.UDPConn, up bool) {
	b := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDP(b)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP unreachable while the other side is not up yet
		}
		l.forward(up, from, append([]byte(nil), b[:n]...))
	}
}

// forward drops datagram b or sends it on after its link's delay.
func (l *LossyUDP) forward(up bool, from *net.UDPAddr, b []byte) {
	l.mu.Lock()
	link, stats, seen, out, dir := l.down, &l.dnStats, &l.dnSeen, l.conn, 0
	if up {
		link, stats, seen, out, dir = l.up, &l.upStats, &l.upSeen, l.peer, 1
	}
	if up {
		l.caller = from
	}
	to := l.caller
	if up {
		to = l.target
	}
	*seen++
	drop := to == nil || slices.Contains(link.Drop, *seen) || l.rnd.Float64() < link.Loss
	delay := link.Delay
	if link.Jitter > 0 {
		delay += time.Duration(l.rnd.Int64N(int64(link.Jitter)))
	}
	var due time.Time
	if !drop && link.Jitter == 0 {
		due = time.Now().Add(delay) // in order
	}
	if !drop && link.Rate > 0 {
		now := time.Now()
		start := now
		if l.free[dir].After(now) {
			start = l.free[dir]
		}
		if drop = start.Sub(now) > cmp.Or(link.Queue, 200*time.Millisecond); !drop {
			l.free[dir] = start.Add(time.Duration(len(b)*8) * time.Second / time.Duration(link.Rate))
			due = l.free[dir].Add(delay)
		}
	}
	if drop {
		stats.Dropped++
	} else {
		stats.Passed++
	}
	l.mu.Unlock()
	if drop {
		return
	}
	if !due.IsZero() {
		select {
		case l.queues[dir] <- queued{b: b, to: to, due: due}:
		default: // more than the queue holds: dropped
		}
		return
	}
	l.inFlight.Add(1)
	time.AfterFunc(delay, func() {
		defer l.inFlight.Done()
		if !l.closed.Load() {
			out.WriteToUDP(b, to)
		}
	})
}

// drain sends a rate-limited direction's datagrams in order, each when due.
func (l *LossyUDP) drain(q chan queued, out *net.UDPConn) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case d := <-q:
			if wait := time.Until(d.due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-l.done:
					return
				}
			}
			out.WriteToUDP(d.b, d.to)
		case <-l.done:
			return
		}
	}
}

// StartBehindLink starts a server whose WebRTC peers reach it only through a LossyUDP (whose
// links the test sets): the server binds 127.0.0.1:PORT and offers 127.0.0.2:PORT as its host
// candidate, where the relay listens. A peer must offer no candidates of its own, or the
// server's checks would find it directly.
func StartBehindLink(t *testing.T, opts Options) (*Server, *LossyUDP) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	server := fmt.Sprintf("127.0.0.1:%d", port)
	tune := opts.Conf
	opts.Conf = func(c *conf.Config) {
		if tune != nil {
			tune(c)
		}
		c.WebRTC, c.WebRTCHosts = server, conf.List{"127.0.0.2"}
	}
	srv := Start(t, opts)
	// After Start, so that its cleanup (which looks for leaked goroutines) comes after the
	// relay's.
	return srv, NewLossyUDPOn(t, fmt.Sprintf("127.0.0.2:%d", port), server, Link{}, Link{}, 1)
}
