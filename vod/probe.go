package vod

import (
	"errors"
	"fmt"
	"io"
	"time"

	mp4 "github.com/abema/go-mp4"
)

// Track describes one track of a stored file.
type Track struct {
	Kind       string `json:"kind"`
	Codec      string `json:"codec"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	Channels   int    `json:"channels,omitempty"`
	SampleRate int    `json:"sample_rate,omitempty"`
}

// Info is what probing a file tells: enough to list it and to know it plays.
type Info struct {
	Duration time.Duration
	Tracks   []Track
}

// errUnplayable marks a file the server cannot serve; the message says why.
var errUnplayable = errors.New("not a playable file")

// Probe reads an MP4's boxes (not its media) and checks that it plays: H.264 video or AAC
// audio, not encrypted, and every sample inside the file's size bytes, which a truncated
// copy fails.
func Probe(r io.ReadSeeker, size int64) (Info, error) {
	if err := checkTables(r, size); err != nil {
		return Info{}, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Info{}, err
	}
	p, err := mp4.Probe(r)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v (an MP4 needs its moov box; a cut file may have lost it)", errUnplayable, err)
	}
	var info Info
	for _, t := range p.Tracks {
		tr, ok := describe(t)
		if !ok {
			continue
		}
		if t.Encrypted {
			return Info{}, fmt.Errorf("%w: track %d is encrypted", errUnplayable, t.TrackID)
		}
		if err := checkSamples(t, size); err != nil {
			return Info{}, err
		}
		if t.Timescale > 0 {
			info.Duration = max(info.Duration, time.Duration(float64(t.Duration)/float64(t.Timescale)*float64(time.Second)))
		}
		info.Tracks = append(info.Tracks, tr)
	}
	if len(info.Tracks) == 0 {
		return Info{}, fmt.Errorf("%w: no H.264 video or AAC audio track (not an MP4, or one cut before its moov box)", errUnplayable)
	}
	if info.Duration <= 0 {
		return Info{}, fmt.Errorf("%w: no media (duration 0)", errUnplayable)
	}
	return info, nil
}

func describe(t *mp4.Track) (Track, bool) {
	switch {
	case t.Codec == mp4.CodecAVC1 && t.AVC != nil:
		return Track{Kind: "video", Codec: "H264", Width: int(t.AVC.Width), Height: int(t.AVC.Height)}, true
	case t.Codec == mp4.CodecMP4A && t.MP4A != nil && t.MP4A.OTI == 0x40:
		return Track{Kind: "audio", Codec: "AAC", Channels: int(t.MP4A.ChannelCount), SampleRate: int(t.Timescale)}, true
	}
	return Track{}, false
}

// maxSample bounds one sample: a 4K intra frame is a few MiB.
const maxSample = 64 << 20

// checkSamples walks a track's chunks and refuses a sample that reaches past the file's end,
// one larger than maxSample, and samples that add up to more than the file (they would
// overlap: a file that makes each viewer read it many times over).
func checkSamples(t *mp4.Track, size int64) error {
	if len(t.Samples) == 0 {
		return fmt.Errorf("%w: track %d has no samples", errUnplayable, t.TrackID)
	}
	var total int64
	for i, s := range t.Samples {
		total += int64(s.Size)
		if s.Size > maxSample || total > size {
			return fmt.Errorf("%w: track %d: sample %d of %d bytes, %d bytes so far in a %d-byte file",
				errUnplayable, t.TrackID, i, s.Size, total, size)
		}
	}
	i := 0
	for _, c := range t.Chunks {
		off := c.DataOffset
		for range c.SamplesPerChunk {
			if i == len(t.Samples) {
				return nil
			}
			off += uint64(t.Samples[i].Size)
			if off > uint64(size) {
				return fmt.Errorf("%w: sample %d of track %d ends at byte %d of a %d-byte file: the file is cut short",
					errUnplayable, i, t.TrackID, off, size)
			}
			i++
		}
	}
	if i < len(t.Samples) {
		return fmt.Errorf("%w: track %d lists %d samples but its chunks hold %d", errUnplayable, t.TrackID, len(t.Samples), i)
	}
	return nil
}
