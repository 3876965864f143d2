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
	loopMS := clipDuration(tags)
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
			if t.Type == TagScript && loop > 0 {
				continue
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

// clipDuration is the time from the first video frame to one average frame interval past the
// last, so the next loop starts a frame after the previous one ended.
func clipDuration(tags []Tag) uint32 {
	var first, last uint32
	n := 0
	for _, t := range tags {
		if t.Type != TagVideo {
			continue
		}
		if n == 0 {
			first = t.Timestamp
		}
		last = max(last, t.Timestamp)
		n++
	}
	if n < 2 {
		return last + 1000
	}
	step := (float64(last-first) / float64(n-1))
	return last + uint32(step+0.5)
}
