package ingest

import (
	"errors"
	"testing"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

type captured struct {
	frames []*relay.Frame
	meta   []byte
}

func (c *captured) WriteFrame(f *relay.Frame) error { c.frames = append(c.frames, f); return nil }
func (c *captured) SetMetadata(b []byte)            { c.meta = b }

func demoTags(t testing.TB) []format.FLVFileTag {
	t.Helper()
	tags, err := format.ParseFLVFile(demoFLV)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

func TestDemoClipIngestsAs720pH264AndAAC(t *testing.T) {
	var out captured
	x := NewFLV(&out)
	for _, tag := range demoTags(t) {
		if err := x.Feed(tag, 0); err != nil {
			t.Fatalf("tag at %d ms: %v", tag.Timestamp, err)
		}
	}
	video0 := x.videos[0].track
	if video0 == nil || video0.Width != 1280 || video0.Height != 720 {
		t.Fatalf("video track = %+v, want 1280x720", video0)
	}
	if x.audio == nil || x.audio.SampleRate != 44100 || x.audio.Channels != 2 {
		t.Fatalf("audio track = %+v, want 44100 Hz stereo", x.audio)
	}
	var video, audio, keys, reordered int
	for _, f := range out.frames {
		switch f.Track {
		case video0:
			video++
			if f.Key {
				keys++
			}
			if f.PTS != f.DTS {
				reordered++
			}
		case x.audio:
			audio++
		}
	}
	if video != 180 || keys != 6 || audio < 250 {
		t.Fatalf("video %d (keys %d), audio %d; want 180 video frames, 6 keyframes, ~259 audio", video, keys, audio)
	}
	if reordered == 0 {
		t.Fatal("no frame has PTS != DTS: the B-frame composition offsets were lost")
	}
	if len(out.meta) == 0 || string(out.meta[3:13]) != "onMetaData" {
		t.Fatalf("metadata = %q, want the onMetaData body", out.meta)
	}
}

func TestVideoTagTimestampsAndCompositionOffset(t *testing.T) {
	var out captured
	x := NewFLV(&out)
	seq := demoTags(t)[1].Body // the AVC sequence header
	if err := x.Video(1000, seq); err != nil {
		t.Fatal(err)
	}
	nalu := []byte{0, 0, 0, 2, 0x65, 0x88}
	for _, tc := range []struct {
		ts        uint32
		cts       [3]byte
		key       bool
		dts, pts  time.Duration
		frameByte byte
	}{
		{1000, [3]byte{0, 0, 66}, true, 0, 66 * time.Millisecond, 0x17},
		{1033, [3]byte{0xff, 0xff, 0xf0}, false, 33 * time.Millisecond, 17 * time.Millisecond, 0x27}, // cts -16
	} {
		body := append([]byte{tc.frameByte, avcNALU, tc.cts[0], tc.cts[1], tc.cts[2]}, nalu...)
		if err := x.Video(tc.ts, body); err != nil {
			t.Fatal(err)
		}
		f := out.frames[len(out.frames)-1]
		// The extender starts the timeline at the first timestamp; the relay rebases later.
		if f.DTS-time.Second != tc.dts || f.PTS-time.Second != tc.pts || f.Key != tc.key {
			t.Errorf("ts %d: got dts %v pts %v key %v, want %v %v %v", tc.ts, f.DTS-time.Second, f.PTS-time.Second, f.Key, tc.dts, tc.pts, tc.key)
		}
		if &f.Payload[0] == &body[5] {
			t.Error("payload aliases the caller's buffer; ingest must copy it")
		}
	}
}

func TestMalformedTagsGiveErrors(t *testing.T) {
	tags := demoTags(t)
	for name, tc := range map[string]struct {
		video bool
		body  []byte
		want  error
	}{
		"empty video":         {true, nil, nil},
		"short avc":           {true, []byte{0x17, 1}, nil},
		"hevc":                {true, []byte{0x1c, 0, 0, 0, 0}, ErrUnsupported},
		"bad avc config":      {true, []byte{0x17, 0, 0, 0, 0, 1, 2}, nil},
		"nal past end":        {true, append([]byte{0x17, 1, 0, 0, 0}, 0, 0, 0, 9, 1), nil},
		"zero length nal":     {true, append([]byte{0x17, 1, 0, 0, 0}, 0, 0, 0, 0), nil},
		"mp3":                 {false, []byte{0x2f, 0}, ErrUnsupported},
		"bad aac config":      {false, []byte{0xaf, 0, 0xff}, nil},
		"unknown aac packet":  {false, []byte{0xaf, 7}, nil},
		"unknown avc packet":  {true, []byte{0x17, 9, 0, 0, 0}, nil},
		"truncated aac":       {false, []byte{0xaf}, nil},
		"empty audio":         {false, []byte{}, nil},
		"config then garbage": {true, append([]byte{0x17, 1, 0, 0, 0}, 0xff, 0xff), nil},
	} {
		t.Run(name, func(t *testing.T) {
			x := NewFLV(&captured{})
			_ = x.Feed(tags[1], 0) // AVC sequence header: so NALU checks run
			var err error
			if tc.video {
				err = x.Video(0, tc.body)
			} else {
				err = x.Audio(0, tc.body)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// An FLV source crosses ffmpeg's 31-bit wrap (24.8 days), RTMP's 32-bit one (49.7 days) and
// then restarts its clock at zero: the frames run on, each track forward only, with their
// true spacing across the wraps and one frame's step at the restart, which is reported.
func TestFLVTimestampsRunOnAcrossWrapsAndARestart(t *testing.T) {
	tags := demoTags(t)
	for _, tc := range []struct {
		name  string
		start uint64 // ms of the first tag
		field uint64 // the wire's counter modulo this
		jumps int
	}{
		{"ffmpeg's 31 bits", 1<<31 - 3000, 1 << 31, 0},
		{"RTMP's 32 bits", 1<<32 - 3000, 1 << 32, 0},
		{"a restart at zero", 3600_000, 1 << 32, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out captured
			x := NewFLV(&out)
			jumps := 0
			x.OnClockJump = func(time.Duration) { jumps++ }
			for i, tag := range tags {
				ms := tc.start + uint64(tag.Timestamp)
				if tc.jumps > 0 && i >= len(tags)/2 {
					ms = uint64(tag.Timestamp) - uint64(tags[len(tags)/2].Timestamp)
				}
				tag.Timestamp = uint32(ms % tc.field)
				if err := x.Feed(tag, 0); err != nil {
					t.Fatal(err)
				}
			}
			last := map[*relay.Track]*relay.Frame{}
			for i, f := range out.frames {
				if p := last[f.Track]; p != nil {
					if step := f.DTS - p.DTS; step <= 0 || step > 100*time.Millisecond {
						t.Fatalf("frame %d (%s): DTS %v after %v", i, f.Track.Codec, f.DTS, p.DTS)
					}
				}
				last[f.Track] = f
			}
			if jumps != tc.jumps {
				t.Errorf("%d jumps reported, want %d", jumps, tc.jumps)
			}
			if tc.jumps == 0 {
				if got, want := out.frames[len(out.frames)-1].DTS-out.frames[0].DTS, time.Duration(tags[len(tags)-1].Timestamp-tags[0].Timestamp)*time.Millisecond; got != want {
					t.Errorf("the frames span %v, the tags %v", got, want)
				}
			}
		})
	}
}

func FuzzFLVTag(f *testing.F) {
	for _, tag := range demoTags(f)[:12] {
		f.Add(tag.Type == format.FLVVideo, tag.Body)
	}
	f.Add(true, exVideoTag(1, exSequenceStart, "hvc1", hevcRecord(f)...))
	f.Add(true, exVideoTag(1, exCodedFrames, "hvc1", 0, 0, 33, 0, 0, 0, 3, 19<<1, 1, 0xaa))
	f.Add(false, append([]byte{flvSoundEx<<4 | exSequenceStart}, "mp4a\x12\x10"...))
	f.Add(true, exVideoTag(1, exSequenceStart, "av01", 0x81, 0x08, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x42, 0xab, 0xbf, 0xc3, 0x70, 0x0b, 0xe0, 0x01))
	f.Add(true, exVideoTag(1, exCodedFramesX, "av01", 0x12, 0x00, 0x32, 0x03, 0x10, 0x00, 0x8d))
	for _, tag := range multitrackTags(f) {
		f.Add(tag.video, tag.body)
	}
	f.Add(false, append([]byte{flvSoundEx<<4 | exSequenceStart}, "OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"...))
	f.Fuzz(func(t *testing.T, video bool, body []byte) {
		x := NewFLV(&captured{})
		_ = x.Feed(demoTags(t)[1], 0)
		_ = x.Feed(demoTags(t)[2], 0)
		if video && len(body) > 0 && body[0]&0x80 != 0 { // an enhanced tag follows an H.265 config
			_ = x.Video(0, exVideoTag(1, exSequenceStart, "hvc1", hevcRecord(t)...))
		}
		if video {
			_ = x.Video(0, body)
		} else {
			_ = x.Audio(0, body)
		}
	})
}

func FuzzFLVFile(f *testing.F) {
	f.Add(demoFLV[:4096])
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tags, err := format.ParseFLVFile(b)
		if err != nil {
			return
		}
		x := NewFLV(&captured{})
		for _, tag := range tags {
			_ = x.Feed(tag, 0)
		}
	})
}
