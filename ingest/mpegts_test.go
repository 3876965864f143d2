package ingest_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/relay"
)

// demoTS is the demo clip (up to max frames) as MPEG-TS, as an SRT publisher sends it.
func demoTS(t testing.TB, max int) ([]byte, []*relay.Frame) {
	t.Helper()
	demo, err := mediatest.DemoFrames()
	if err != nil {
		t.Fatal(err)
	}
	demo = demo[:min(max, len(demo))]
	var video, audio *relay.Track
	for _, f := range demo {
		if f.Track.Codec == relay.CodecH264 {
			video = f.Track
		} else {
			audio = f.Track
		}
	}
	var buf bytes.Buffer
	w, err := format.NewTSWriter(&buf, video, audio, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range demo {
		if err := w.Write(f.Track.Codec, f.DTS, f.PTS, f.Payload); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes(), demo
}

// The demo clip, muxed as MPEG-TS, comes out as the frames it went in as.
func TestMPEGTSDemuxesTheDemoClip(t *testing.T) {
	ts, demo := demoTS(t, 1<<20)
	var out frames
	x, err := ingest.NewMPEGTS(bytes.NewReader(ts), &out)
	if err != nil {
		t.Fatal(err)
	}
	var decodeErrs []error
	x.OnDecodeError = func(err error) { decodeErrs = append(decodeErrs, err) }
	for {
		if err := x.Read(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	sameFrames(t, demo, out.got)
	for i := 1; i < len(out.got); i++ {
		if out.got[i].DTS < out.got[i-1].DTS {
			t.Fatalf("frame %d (%s) at DTS %v comes after %v: not interleaved", i, out.got[i].Track.Codec, out.got[i].DTS, out.got[i-1].DTS)
		}
	}
	if len(decodeErrs) > 0 {
		t.Errorf("decode errors: %v", decodeErrs)
	}
}

// An input with no program table within the probe limit is refused, not read for ever.
func TestMPEGTSWithoutTablesIsRefused(t *testing.T) {
	junk := bytes.Repeat([]byte{0x47, 0x1f, 0xff, 0x10}, ingest.MaxMPEGTSProbe/4+1000) // null packets, sort of
	if _, err := ingest.NewMPEGTS(bytes.NewReader(junk), &frames{}); err == nil {
		t.Fatal("accepted")
	}
}

// FuzzMPEGTS feeds any bytes to the demuxer: it may refuse them, never panic.
func FuzzMPEGTS(f *testing.F) {
	ts, _ := demoTS(f, 12)
	f.Add(ts)
	f.Add(ts[:len(ts)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := ingest.NewMPEGTS(bytes.NewReader(data), &frames{})
		if err != nil {
			return
		}
		for range 10000 {
			if x.Read() != nil {
				return
			}
		}
	})
}

// A live input cut in the middle of a picture (a killed encoder) does not hand out the
// picture its end completes: it would be broken. (A file's reader does, so the test can tell.)
func TestMPEGTSLiveInputCutMidPictureDropsIt(t *testing.T) {
	ts, demo := demoTS(t, 40)
	var video [][]byte
	for _, f := range demo {
		if f.Track.Codec == relay.CodecH264 {
			video = append(video, f.Payload)
		}
	}
	cut := ts[:300*188] // mid-PES, as a connection ends between packets
	for _, live := range []bool{false, true} {
		var out frames
		x, err := ingest.NewMPEGTS(bytes.NewReader(cut), &out)
		if err != nil {
			t.Fatal(err)
		}
		x.Live = live
		for x.Read() == nil {
		}
		n, broken := 0, 0
		for _, f := range out.got {
			if f.Track.Codec == relay.CodecH264 {
				if !bytes.Equal(f.Payload, video[n]) {
					broken++
				}
				n++
			}
		}
		if live && broken > 0 || !live && broken == 0 {
			t.Errorf("live %v: %d of %d pictures broken", live, broken, n)
		}
	}
}
