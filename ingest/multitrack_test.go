package ingest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

type flvTag struct {
	video bool
	ts    uint32
	body  []byte
}

// multitrackTags are an encoder's two renditions of the demo clip's first pictures as
// enhanced RTMP multitrack sends them: track 0 in legacy tags, track 1 in one-track
// multitrack tags with no frame type (as gortmplib and OBS's second track), and both in one
// many-tracks tag; the demo's AAC beside them.
func multitrackTags(t testing.TB) []flvTag {
	var out []flvTag
	tags := demoTags(t)
	wrap := func(layout byte, tracks ...[]byte) []byte {
		b := []byte{0x80 | exVideoMultitrack, layout<<4 | exCodedFrames}
		b = append(b, "avc1"...)
		for id, data := range tracks {
			b = append(b, byte(id))
			if layout != 0 {
				b = append(b, byte(len(data)>>16), byte(len(data)>>8), byte(len(data)))
			}
			b = append(b, data...)
		}
		return b
	}
	pictures := 0
	for _, tag := range tags {
		if tag.Type == format.FLVAudio {
			out = append(out, flvTag{false, tag.Timestamp, tag.Body})
			continue
		}
		if tag.Type != format.FLVVideo {
			continue
		}
		rest := tag.Body[2:]  // the CTS and the data of a legacy AVC tag
		if tag.Body[1] == 0 { // the sequence header: track 1's as a sequence start
			out = append(out, flvTag{true, tag.Timestamp, tag.Body},
				flvTag{true, tag.Timestamp, append([]byte{0x80 | exVideoMultitrack, 0<<4 | exSequenceStart, 'a', 'v', 'c', '1', 1}, rest[3:]...)})
			continue
		}
		if pictures++; pictures > 40 {
			break
		}
		if pictures%2 == 0 {
			out = append(out, flvTag{true, tag.Timestamp, wrap(1, rest, rest)})
			continue
		}
		one := wrap(0, rest)
		one[2+4] = 1 // track id 1
		out = append(out, flvTag{true, tag.Timestamp, tag.Body}, flvTag{true, tag.Timestamp, one})
	}
	return out
}

// Enhanced RTMP multitrack publishes each further video track as a rendition of the stream
// (live/a~1) with the same timestamps as the first, keyframes read from the pictures, and
// the sound in each.
func TestMultitrackFLVPublishesRenditions(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.Grace = 0
	g := relay.NewRegistry(cfg)
	defer g.Close()
	p, err := g.Publish("live/a")
	if err != nil {
		t.Fatal(err)
	}
	main, _ := g.Lookup("live/a")
	mr := main.NewReader()
	defer mr.Close()
	x := NewFLV(p)
	var rs *relay.Stream
	var rr *relay.Reader
	for _, tag := range multitrackTags(t) {
		feed := x.Audio
		if tag.video {
			feed = x.Video
		}
		if err := feed(tag.ts, tag.body); err != nil {
			t.Fatalf("tag at %d ms %x: %v", tag.ts, tag.body[:8], err)
		}
		if rs == nil {
			if rs, _ = g.Lookup("live/a~1"); rs != nil { // its sequence start: before any picture
				rr = rs.NewReader()
				defer rr.Close()
			}
		}
	}
	if got := main.Renditions(); rs == nil || len(got) != 1 || got[0] != rs {
		t.Fatalf("renditions %v", got)
	}
	p.Close()
	a, b := drainAll(t, mr), drainAll(t, rr)
	pictures := func(fs []*relay.Frame) (list []*relay.Frame, audio int) {
		for _, f := range fs {
			if f.Track.Codec.IsVideo() {
				list = append(list, f)
			} else {
				audio++
			}
		}
		return list, audio
	}
	va, aa := pictures(a)
	vb, ab := pictures(b)
	if len(va) != 40 || len(vb) != 40 || aa == 0 || aa != ab {
		t.Fatalf("main: %d pictures, %d sound; rendition: %d pictures, %d sound", len(va), aa, len(vb), ab)
	}
	for i := range va {
		if va[i].DTS != vb[i].DTS || va[i].PTS != vb[i].PTS || va[i].Key != vb[i].Key || !bytes.Equal(va[i].Payload, vb[i].Payload) {
			t.Fatalf("picture %d: main %v/%v key %v, rendition %v/%v key %v", i, va[i].DTS, va[i].PTS, va[i].Key, vb[i].DTS, vb[i].PTS, vb[i].Key)
		}
	}
	if !vb[0].Key || vb[0].Track.Width != 1280 {
		t.Fatalf("rendition's first picture: key %v, %dx%d", vb[0].Key, vb[0].Track.Width, vb[0].Track.Height)
	}
}

// drainAll reads a reader of an ended stream to its end.
func drainAll(t *testing.T, r *relay.Reader) []*relay.Frame {
	t.Helper()
	var out []*relay.Frame
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		f, err := r.Next(ctx)
		if err != nil {
			if !errors.Is(err, relay.ErrEnded) {
				t.Fatal(err)
			}
			return out
		}
		out = append(out, f)
	}
}

// A path whose main rendition is set to track 1 publishes track 1 as the stream and track 0
// as the rendition live/a~0; a track it names that the encoder does not send leaves the
// first as the stream.
func TestMultitrackMainRenditionIsConfigurable(t *testing.T) {
	for main, want := range map[string]string{"1": "live/a~0", "7": "live/a~1"} {
		cfg := relay.DefaultConfig()
		cfg.Grace = 0
		g := relay.NewRegistry(cfg)
		g.SetMainRendition(func(string) string { return main })
		p, err := g.Publish("live/a")
		if err != nil {
			t.Fatal(err)
		}
		x := NewFLV(p)
		for _, tag := range multitrackTags(t)[:12] {
			feed := x.Audio
			if tag.video {
				feed = x.Video
			}
			if err := feed(tag.ts, tag.body); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := g.Lookup(want); err != nil {
			t.Errorf("main rendition %q: no %s: %v", main, want, err)
		}
		p.Close()
		g.Close()
	}
}
