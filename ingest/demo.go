package ingest

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// demoFLV is 6 s of a 1280x720 test pattern with a running clock and a tone (H.264 High with
// B-frames, AAC), made by testdata/make-media.sh.
//
//go:embed demo/demo.flv
var demoFLV []byte

// Publisher is what the demo needs from the relay.
type Publisher interface {
	Publish(path string) (*relay.Publisher, error)
}

// Demo loops the embedded clip at path in real time, through the relay like any publisher.
type Demo struct {
	Path string
	Log  *slog.Logger
}

// Run publishes until ctx is done. Timestamps run on across loops, so players never see the
// clip restart.
func (d *Demo) Run(ctx context.Context, relays Publisher) error {
	tags, err := ParseFLVFile(demoFLV)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	tags, loopMS := loopTags(tags)
	pub, err := relays.Publish(d.Path)
	if err != nil {
		return fmt.Errorf("demo publish %s: %w", d.Path, err)
	}
	defer pub.Close()
	d.Log.Info("demo stream live", "path", d.Path, "loop", time.Duration(loopMS)*time.Millisecond)
	x := NewFLV(pub)
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	for loop := uint32(0); ; loop++ {
		for _, t := range tags {
			if t.Type == TagScript {
				continue // the file's onMetaData gives a duration: players would take it for a file
			}
			ts := loop*loopMS + t.Timestamp
			if wait := time.Until(start.Add(time.Duration(ts) * time.Millisecond)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			}
			if err := x.Feed(t, loop*loopMS); err != nil {
				return fmt.Errorf("demo %s: %w", d.Path, err)
			}
		}
	}
}

// loopTags returns the tags of one loop and its length: from the first video frame to one
// frame interval past the last. Audio that would spill into the next loop is cut, so both
// tracks keep increasing timestamps when the clip repeats.
func loopTags(tags []Tag) ([]Tag, uint32) {
	loop := lastPlusStep(tags, TagVideo)
	out := make([]Tag, 0, len(tags))
	step := frameStep(tags, TagAudio)
	for _, t := range tags {
		if t.Type == TagAudio && t.Timestamp+step > loop {
			continue
		}
		out = append(out, t)
	}
	return out, loop
}

// lastPlusStep is one average frame interval past the last tag of type typ.
func lastPlusStep(tags []Tag, typ byte) uint32 {
	var last uint32
	for _, t := range tags {
		if t.Type == typ {
			last = max(last, t.Timestamp)
		}
	}
	return last + frameStep(tags, typ)
}

// frameStep is the average interval between tags of type typ, rounded to milliseconds.
func frameStep(tags []Tag, typ byte) uint32 {
	var first, last uint32
	n := 0
	for _, t := range tags {
		if t.Type != typ {
			continue
		}
		if n == 0 {
			first = t.Timestamp
		}
		last = max(last, t.Timestamp)
		n++
	}
	if n < 2 {
		return 0
	}
	return uint32(float64(last-first)/float64(n-1) + 0.5)
}

// DemoClip returns the embedded demo clip (an FLV file), e.g. for load tools to publish.
func DemoClip() []byte { return demoFLV }
