package format

import (
	"errors"
	"fmt"
	"io"
	"time"

	mp4 "github.com/abema/go-mp4"
)

// FileTrack describes one track of a stored file.
type FileTrack struct {
	Kind       string `json:"kind"`
	Codec      string `json:"codec"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	Channels   int    `json:"channels,omitempty"`
	SampleRate int    `json:"sample_rate,omitempty"`
}

// FileInfo is what probing a file tells: enough to list it and to know it plays.
type FileInfo struct {
	Duration time.Duration
	Tracks   []FileTrack
	Cut      int64 // where a fragmented file is cut short (Index.Cut); zero if whole
}

// ErrUnplayable marks a stored file the server cannot serve; the message says why.
var ErrUnplayable = errors.New("not a playable file")

// Probe checks that an MP4 plays, by reading its sample index (boxes, never the media):
// H.264, H.265 or AV1 video or AAC or Opus audio, every sample inside the file's size bytes, which a truncated
// copy fails. What it plays is what every protocol then serves.
func Probe(r io.ReadSeeker, size int64) (FileInfo, error) {
	ix, err := ReadIndex(r, size)
	if err != nil {
		return FileInfo{}, err
	}
	if ix.Duration <= 0 {
		return FileInfo{}, fmt.Errorf("%w: no media (duration 0)", ErrUnplayable)
	}
	info := FileInfo{Duration: ix.Duration, Cut: ix.Cut}
	for _, t := range ix.Tracks {
		kind := "audio"
		if t.Codec.IsVideo() {
			kind = "video"
		}
		info.Tracks = append(info.Tracks, FileTrack{Kind: kind, Codec: t.Codec.String(), Width: t.Width, Height: t.Height,
			Channels: t.Channels, SampleRate: t.SampleRate})
	}
	return info, nil
}

// maxSample bounds one sample: a 4K intra frame is a few MiB.
const maxSample = 64 << 20

// checkSamples walks a track's chunks and refuses a sample that reaches past the file's end,
// one larger than maxSample, and samples that add up to more than the file (they would
// overlap: a file that makes each viewer read it many times over).
func checkSamples(t *mp4.Track, size int64) error {
	if len(t.Samples) == 0 {
		return fmt.Errorf("%w: track %d has no samples", ErrUnplayable, t.TrackID)
	}
	var total int64
	for i, s := range t.Samples {
		total += int64(s.Size)
		if s.Size > maxSample || total > size {
			return fmt.Errorf("%w: track %d: sample %d of %d bytes, %d bytes so far in a %d-byte file",
				ErrUnplayable, t.TrackID, i, s.Size, total, size)
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
					ErrUnplayable, i, t.TrackID, off, size)
			}
			i++
		}
	}
	if i < len(t.Samples) {
		return fmt.Errorf("%w: track %d lists %d samples but its chunks hold %d", ErrUnplayable, t.TrackID, len(t.Samples), i)
	}
	return nil
}
