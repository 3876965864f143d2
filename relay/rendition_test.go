package relay

import (
	"errors"
	"testing"
	"time"
)

// A rendition's frames land on its main stream's timeline, whichever of them writes first,
// and it leaves with the main publisher; a network publisher cannot make one by name.
func TestRenditionsShareTheTimelineAndLeaveWithTheirStream(t *testing.T) {
	cfg := testConfig()
	cfg.Grace = time.Minute
	cfg.TimelineStart = time.Hour
	g := NewRegistry(cfg)
	defer g.Close()
	if _, err := g.Publish("live/a~low"); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("publishing a rendition by name: %v, want ErrInvalidPath", err)
	}
	p := mustPublish(t, g, "live/a")
	low, err := p.Rendition("low")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Rendition("bad~x"); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("label with the separator: %v", err)
	}
	main, _ := g.Lookup("live/a")
	rs, err := g.Lookup("live/a~low")
	if err != nil {
		t.Fatal(err)
	}
	if got := main.Renditions(); len(got) != 1 || got[0] != rs || rs.Main() != main || main.Main() != main {
		t.Fatalf("renditions %v, main of the rendition %v", got, rs.Main())
	}
	// The rendition writes first, 5 s into the source's clock; the main stream's frame of
	// the same source instant gets the same timestamp.
	src := 5 * time.Second
	writeAll(t, low, []*Frame{{Track: testVideo, DTS: src, PTS: src, Key: true, Payload: []byte{1}}})
	writeAll(t, p, []*Frame{{Track: testVideo, DTS: src, PTS: src, Key: true, Payload: []byte{2}}})
	if rs.Newest() != time.Hour || main.Newest() != time.Hour {
		t.Fatalf("rendition at %v, main at %v; want both at the timeline's start", rs.Newest(), main.Newest())
	}
	if e := main.Epoch(); e.IsZero() || !rs.Epoch().Equal(e) || time.Since(e.Add(time.Hour)) > time.Minute {
		t.Fatalf("epochs: main %v, rendition %v; want one, an hour before now", e, rs.Epoch())
	}
	p.Close()
	if _, err := low.Rendition("x"); !errors.Is(err, ErrEnded) {
		t.Fatalf("rendition of a publisher that left: %v", err)
	}
	if err := low.WriteFrame(&Frame{Track: testVideo, DTS: src, PTS: src, Payload: []byte{3}}); !errors.Is(err, ErrEnded) {
		t.Fatalf("rendition writing after its publisher left: %v, want ErrEnded", err)
	}
	// A new publisher takes over both, each with its readers.
	r := rs.NewReader()
	defer r.Close()
	p2 := mustPublish(t, g, "live/a")
	low2, err := p2.Rendition("low")
	if err != nil {
		t.Fatalf("taking over the rendition: %v", err)
	}
	if low2.Stream() != rs {
		t.Fatal("the rendition's stream was not taken over")
	}
	writeAll(t, low2, []*Frame{{Track: testVideo, DTS: 0, PTS: 0, Key: true, Payload: []byte{4}}})
	if rs.Newest() <= time.Hour {
		t.Fatalf("rendition after the hand-over at %v, want after %v", rs.Newest(), time.Hour)
	}
}

// A rendition that ends is no longer listed by its main stream.
func TestEndedRenditionLeavesTheList(t *testing.T) {
	g := NewRegistry(testConfig()) // no grace
	defer g.Close()
	p := mustPublish(t, g, "live/a")
	if _, err := p.Rendition("low"); err != nil {
		t.Fatal(err)
	}
	main, _ := g.Lookup("live/a")
	p.Close()
	if n := len(main.Renditions()); n != 0 {
		t.Fatalf("%d renditions listed after the end", n)
	}
	if _, err := g.Lookup("live/a~low"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rendition after the end: %v", err)
	}
}
