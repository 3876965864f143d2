package mediatest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	mfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// FMP4Frames reads a fragmented MP4 file (ffmpeg -movflags frag_keyframe+empty_moov) of AV1
// and Opus, H.264/H.265 and AAC, as relay frames in DTS order, with the tracks they point to.
func FMP4Frames(file string) ([]*relay.Frame, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	split := 0
	for split+8 <= len(b) { // the init segment is every box before the first moof
		size := int(binary.BigEndian.Uint32(b[split:]))
		if string(b[split+4:split+8]) == "moof" || size < 8 {
			break
		}
		split += size
	}
	var init mfmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b[:split])); err != nil {
		return nil, fmt.Errorf("%s: init: %w", file, err)
	}
	tracks := map[int]*relay.Track{}
	scales := map[int]int64{}
	for _, it := range init.Tracks {
		scales[it.ID] = int64(it.TimeScale)
		if _, ok := it.Codec.(*codecs.VP9); ok {
			continue // its track comes from its first keyframe
		}
		t, err := trackOf(it.Codec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		tracks[it.ID] = t
	}
	var parts mfmp4.Parts
	if err := parts.Unmarshal(b[split:]); err != nil {
		return nil, fmt.Errorf("%s: fragments: %w", file, err)
	}
	var frames []*relay.Frame
	for _, p := range parts {
		for _, pt := range p.Tracks {
			if tracks[pt.ID] == nil && len(pt.Samples) > 0 { // VP9
				t, err := codec.VP9Params(pt.Samples[0].Payload)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", file, err)
				}
				tracks[pt.ID] = t
			}
			t, scale := tracks[pt.ID], scales[pt.ID]
			at := int64(pt.BaseTime)
			for _, s := range pt.Samples {
				dts := codec.Duration(at, int64(scale))
				pts := codec.Duration(at+int64(s.PTSOffset), int64(scale))
				frames = append(frames, &relay.Frame{Track: t, DTS: dts, PTS: pts,
					Key: keyframe(t, s.Payload), Payload: s.Payload})
				at += int64(s.Duration)
			}
		}
	}
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].DTS < frames[j].DTS })
	return frames, nil
}

// keyframe tells from the picture itself: mediacommon does not read ffmpeg's first-sample
// flags.
func keyframe(t *relay.Track, payload []byte) bool {
	switch t.Codec {
	case relay.CodecAV1:
		obus, err := codec.AV1Units(payload)
		return err == nil && av1.IsRandomAccess2(obus)
	case relay.CodecVP9:
		return vp9.IsRandomAccess(payload)
	case relay.CodecH264, relay.CodecH265:
		c, err := codec.ParseNALConfig(t)
		return err == nil && c.RandomAccess(payload)
	}
	return true
}

func trackOf(c codecs.Codec) (*relay.Track, error) {
	switch c := c.(type) {
	case *codecs.AV1:
		return codec.AV1Params(c.SequenceHeader)
	case *codecs.Opus:
		return codec.OpusParams(c.ChannelCount)
	case *codecs.H264:
		return codec.H264Params(c.SPS, c.PPS)
	case *codecs.H265:
		return codec.H265Params(c.VPS, c.SPS, c.PPS)
	case *codecs.MPEG4Audio:
		asc, err := c.Config.Marshal()
		if err != nil {
			return nil, err
		}
		return codec.AACTrack(asc)
	}
	return nil, fmt.Errorf("no relay track for %T", c)
}

// SampleAV1 is the test clip in AV1 and Opus (testdata/sample-720p-av1.mp4).
func SampleAV1() string { return sampleFile("sample-720p-av1.mp4") }

// SampleVP9 is the test clip in VP9 and Opus (testdata/sample-720p-vp9.mp4).
func SampleVP9() string { return sampleFile("sample-720p-vp9.mp4") }

func sampleFile(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", name)
}
