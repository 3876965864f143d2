package relay

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// A rendition is one more encoding of a stream's source (another size or bitrate): a stream
// of its own at MAIN~LABEL, which every protocol plays like any other, published beside the
// main stream by the main stream's publisher (an E-RTMP multitrack encoder, WHIP simulcast,
// a transcoded ladder) and sharing its timeline, so that the same source instant has the
// same timestamp in each and players can switch between them. Players that know of one
// stream get the main one; HLS lists them all.

// RenditionSep joins a stream's path and a rendition's label.
const RenditionSep = "~"

// IsRendition reports whether path names a rendition of another stream.
func IsRendition(path string) bool { return strings.Contains(path, RenditionSep) }

// MainPath is the path of the stream path is a rendition of, or path itself.
func MainPath(path string) string {
	main, _, _ := strings.Cut(path, RenditionSep)
	return main
}

// Rendition makes the caller's publisher of the rendition label of p's stream: frames
// written to it land on the same timeline as p's, and it leaves when p does. A rendition
// in its grace window is taken over with its readers, as a stream is.
func (p *Publisher) Rendition(label string) (*Publisher, error) {
	if err := validateSegment(label); err != nil {
		return nil, fmt.Errorf("%w: rendition %q: %v", ErrInvalidPath, label, err)
	}
	return p.g.publish(p.s.path+RenditionSep+label, p, nil)
}

// SetMainRendition names, by path, which of an encoder's renditions is the stream itself
// (what players that know one stream get): an enhanced RTMP track id ("1") or a WHIP
// simulcast rid; "" or nil: the first. The others are published as renditions, the first
// too.
func (g *Registry) SetMainRendition(of func(path string) string) {
	g.mu.Lock()
	g.mainOf = of
	g.mu.Unlock()
}

// MainRendition is the label SetMainRendition names for p's path; "": the first.
func (p *Publisher) MainRendition() string {
	p.g.mu.Lock()
	of := p.g.mainOf
	p.g.mu.Unlock()
	if of == nil {
		return ""
	}
	return of(p.s.path)
}

// Renditions are the streams published as renditions of s, in the order they came.
func (s *Stream) Renditions() []*Stream {
	if r := s.renditions.Load(); r != nil {
		return *r
	}
	return nil
}

// Main is the stream s is a rendition of, or s.
func (s *Stream) Main() *Stream {
	if m := s.parent.Load(); m != nil {
		return m
	}
	return s
}

// addRendition and removeRendition keep s's list; the caller holds the registry's mu.
func (s *Stream) addRendition(r *Stream) {
	old := s.Renditions()
	if slices.Contains(old, r) {
		return
	}
	list := append(slices.Clip(old), r)
	s.renditions.Store(&list)
}

func (s *Stream) removeRendition(r *Stream) {
	list := slices.DeleteFunc(slices.Clone(s.Renditions()), func(x *Stream) bool { return x == r })
	s.renditions.Store(&list)
}

// groupClock is the offset a publisher and its renditions share: the first of them to
// write fixes it.
type groupClock struct {
	mu     sync.Mutex
	set    bool
	offset time.Duration
}

func (c *groupClock) fix(offset time.Duration) time.Duration {
	if c == nil { // a standby's
		return offset
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.set {
		c.set, c.offset = true, offset
	}
	return c.offset
}
