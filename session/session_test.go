package session

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/relay"
)

func TestTotalsKeepWhatEndedSessionsDid(t *testing.T) {
	var tb Table
	a := tb.Open(Info{Protocol: "rtmp", Kind: Read, Path: "live/a"})
	b := tb.Open(Info{Protocol: "rtmp", Kind: Read, Path: "live/a"})
	c := tb.Open(Info{Protocol: "rtsp", Kind: Read, Path: "live/b"})
	a.AddOut(100)
	b.AddOut(50)
	b.AddDropped(3)
	c.CountFrom(func() Counts { return Counts{BytesOut: 7, BytesIn: 2} })
	tb.AddOut("hls", 1000)
	if got := tb.Readers("rtmp"); got["live/a"] != 2 || len(got) != 1 {
		t.Fatalf("rtmp readers %v, want live/a: 2", got)
	}
	b.Close(fmt.Errorf("rtmp play: %w", relay.ErrTooSlow))
	b.Close(nil) // a second close changes nothing
	a.AddOut(1)
	want := map[string]Totals{
		"rtmp": {Counts: Counts{BytesOut: 151, Dropped: 3}, TooSlow: 1},
		"rtsp": {Counts: Counts{BytesOut: 7, BytesIn: 2}},
		"hls":  {Counts: Counts{BytesOut: 1000}},
	}
	if got := tb.Totals(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("totals %v, want %v", got, want)
	}
	if got := tb.Readers("rtmp"); got["live/a"] != 1 {
		t.Fatalf("rtmp readers after a close %v, want live/a: 1", got)
	}
	if got := tb.ByPath()["live/a"].BytesOut; got != 151 {
		t.Fatalf("live/a sent %d bytes, want 151", got)
	}
}

func TestKickEndsOnlyKickableLiveSessions(t *testing.T) {
	var tb Table
	pub := tb.Open(Info{Protocol: "rtmp", Kind: Publish, Path: "live/x"})
	kicked := make(chan error, 1)
	pub.OnKick(func() { kicked <- ErrKicked; pub.Close(ErrKicked) })
	other := tb.Open(Info{Protocol: "rtmp", Kind: Publish, Path: "live/y"})
	if n := tb.KickPath(Publish, "live/x"); n != 1 {
		t.Fatalf("KickPath ended %d sessions, want 1", n)
	}
	if err := <-kicked; !errors.Is(err, ErrKicked) {
		t.Fatal(err)
	}
	if tb.Get(pub.ID) != nil || tb.Get(other.ID) == nil {
		t.Fatal("the kicked session is still listed, or the other is not")
	}
	if pub.Kick() || other.Kick() {
		t.Fatal("a closed session or one without a kick was kicked")
	}
}

func TestListIsOldestFirstWithABitrate(t *testing.T) {
	var tb Table
	s := tb.Open(Info{Protocol: "rtmp", Kind: Publish, Path: "live/x"})
	s.Since = s.Since.Add(-2 * time.Second)
	s.AddIn(500_000) // 4 Mbit in 2 s: 2 Mbit/s
	tb.Open(Info{Protocol: "web", Kind: Read, Path: "live/x"})
	l := tb.List()
	if len(l) != 2 || l[0].ID != s.ID {
		t.Fatalf("list %+v, want the publisher first", l)
	}
	if l[0].Bitrate < 1_900_000 || l[0].Bitrate > 2_100_000 {
		t.Fatalf("bitrate %d, want about 2 Mbit/s", l[0].Bitrate)
	}
}

func TestConcurrentUse(t *testing.T) {
	var tb Table
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				s := tb.Open(Info{Protocol: "rtmp", Kind: Read, Path: fmt.Sprintf("live/%d", j%3)})
				s.AddOut(i)
				_ = tb.List()
				_ = tb.Totals()
				s.Close(nil)
			}
		})
	}
	wg.Wait()
	if n := len(tb.List()); n != 0 {
		t.Fatalf("%d sessions left open", n)
	}
}
