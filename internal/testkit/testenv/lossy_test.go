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
