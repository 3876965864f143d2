package testenv

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// The relay must drop about the fraction asked, delay every datagram at least as asked,
// reorder under jitter, and drop the first datagrams when told: else the lossy-link tests
// pass on a clean link.
func TestLossyUDPDropsDelaysAndReorders(t *testing.T) {
	echo, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		b := make([]byte, 64)
		for {
			n, from, err := echo.ReadFromUDP(b)
			if err != nil {
				return
			}
			echo.WriteToUDP(b[:n], from)
		}
	}()
	l := NewLossyUDP(t, echo.LocalAddr().String(),
		Link{Loss: 0.05, Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond, Drop: []int{1, 2, 3}},
		Link{Loss: 0.05, Delay: 5 * time.Millisecond}, 1)
	c, err := net.Dial("udp", l.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const n = 2000
	start := time.Now()
	go func() {
		for i := range n {
			b := binary.BigEndian.AppendUint32(nil, uint32(i))
			c.Write(binary.BigEndian.AppendUint64(b, uint64(time.Since(start))))
			time.Sleep(100 * time.Microsecond)
		}
	}()
	got, reordered, last := map[int]bool{}, 0, -1
	b := make([]byte, 64)
	for {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		m, err := c.Read(b)
		if err != nil {
			break
		}
		i := int(binary.BigEndian.Uint32(b[:m]))
		sent := start.Add(time.Duration(binary.BigEndian.Uint64(b[4:m])))
		if d := time.Since(sent); d < 10*time.Millisecond {
			t.Errorf("datagram %d came back after %v, under the 10 ms of delay", i, d)
		}
		if i < last {
			reordered++
		}
		last, got[i] = max(last, i), true
	}
	for i := range 3 {
		if got[i] {
			t.Errorf("datagram %d passed; the first 3 were to be dropped", i)
		}
	}
	up, down := l.Stats()
	t.Logf("up %+v, down %+v, %d of %d back, %d reordered", up, down, len(got), n, reordered)
	if lost := n - len(got); lost < n*5/100 || lost > n*15/100 {
		t.Errorf("%d of %d lost both ways at 5 %% each: want 5–15 %%", lost, n)
	}
	if reordered == 0 {
		t.Error("no datagram overtook another under 4 ms of jitter")
	}
}

// A rate-limited link passes datagrams in order at its rate, and drops what would queue
// longer than its queue: else the bandwidth tests pass on a fast link.
func TestLossyUDPLimitsTheRate(t *testing.T) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	// 1000-byte datagrams at 800 kbit/s: one every 10 ms, 20 in the 200 ms queue.
	l := NewLossyUDP(t, sink.LocalAddr().String(), Link{Rate: 800_000}, Link{}, 1)
	c, err := net.Dial("udp", l.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 100 {
		b := make([]byte, 1000)
		binary.BigEndian.PutUint32(b, uint32(i))
		c.Write(b)
	}
	var got []int
	var first, last time.Time
	b := make([]byte, 2000)
	for {
		sink.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _, err := sink.ReadFromUDP(b)
		if err != nil {
			break
		}
		if first.IsZero() {
			first = time.Now()
		}
		last = time.Now()
		got = append(got, int(binary.BigEndian.Uint32(b[:n])))
	}
	if len(got) < 15 || len(got) > 25 {
		t.Errorf("%d datagrams passed, want about 20 (200 ms of queue at the rate)", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got)
		}
	}
	if len(got) > 1 {
		if each := last.Sub(first) / time.Duration(len(got)-1); each < 8*time.Millisecond || each > 15*time.Millisecond {
			t.Errorf("a datagram every %v, want 10 ms", each)
		}
	}
	if up, _ := l.Stats(); up.Dropped < 70 {
		t.Errorf("%d dropped, want the rest of 100", up.Dropped)
	}
}
