package format

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// An FLV file (what OBS and ffmpeg record from RTMP) is indexed like an MP4: its tags are
// walked once, headers only (format's reader, the one RTMP publishers go through, enhanced
// tags included), and each frame becomes a sample pointing into the tag's body, so every
// protocol plays it from the file as it plays an MP4.

const (
	flvTagHeader = 11
	flvBodyHead  = 8 // enough of a tag body for its header: enhanced H.265 frames have 8 bytes
)

// isFLV says whether a file starts as an FLV does.
func isFLV(head []byte) bool { return len(head) >= 3 && string(head[:3]) == "FLV" }

// readFLVIndex indexes an FLV of size bytes. A file cut inside a tag (a recording still
// being written) is indexed up to its last whole tag, and Cut says where.
func readFLVIndex(r io.ReaderAt, size int64) (*Index, error) {
	var head [9]byte
	if err := flvRead(r, 0, head[:]); err != nil || !isFLV(head[:]) || head[3] != 1 {
		return nil, fmt.Errorf("%w: not an FLV file (version 1)", ErrUnplayable)
	}
	w := flvWalk{r: r}
	off := int64(binary.BigEndian.Uint32(head[5:])) + 4 // the header, PreviousTagSize0
	for off+flvTagHeader <= size {
		end, err := w.tag(off, size)
		if err != nil {
			return nil, err
		}
		if end < 0 {
			w.ix.Cut = off
			break
		}
		off = end
	}
	if off < size && w.ix.Cut == 0 { // less than a tag header left
		w.ix.Cut = off
	}
	return w.index()
}

type flvWalk struct {
	r            io.ReaderAt
	ix           Index
	video, audio *relay.Track
	vs, as       []Sample // by track, to be merged
}

// tag reads the tag at off and returns where the next starts, or -1 if this one is cut short.
func (w *flvWalk) tag(off, size int64) (int64, error) {
	var h [flvTagHeader + flvBodyHead]byte
	n := min(int64(len(h)), size-off)
	if err := flvRead(w.r, off, h[:n]); err != nil {
		return 0, err
	}
	typ, dataSize := h[0], int64(h[1])<<16|int64(h[2])<<8|int64(h[3])
	ms := int64(uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]))
	data, end := off+flvTagHeader, off+flvTagHeader+dataSize+4
	if end > size {
		return -1, nil
	}
	if typ&0x20 != 0 {
		return 0, fmt.Errorf("%w: encrypted FLV tag at byte %d", ErrUnplayable, off)
	}
	if dataSize > maxSample {
		return 0, fmt.Errorf("%w: FLV tag of %d bytes at byte %d", ErrUnplayable, dataSize, off)
	}
	body := h[flvTagHeader:n]
	if int64(len(body)) > dataSize {
		body = body[:dataSize]
	}
	at := time.Duration(ms) * time.Millisecond
	switch typ & 0x1f {
	case FLVVideo:
		return end, w.videoTag(body, data, dataSize, at, off)
	case FLVAudio:
		return end, w.audioTag(body, data, dataSize, at)
	case FLVScript:
		return end, nil
	default:
		return 0, fmt.Errorf("%w: FLV tag of type %d at byte %d", ErrUnplayable, typ, off)
	}
}

func (w *flvWalk) videoTag(body []byte, data, size int64, at time.Duration, off int64) error {
	if size == 0 {
		return nil // an empty tag: nothing to play
	}
	tag, err := ParseFLVVideo(body)
	switch {
	case err != nil:
		return fmt.Errorf("%w: tag at byte %d: %v", ErrUnplayable, off, err)
	case tag.Kind == FLVSkip:
		return nil
	case tag.Codec == relay.CodecAV1 || tag.Codec == relay.CodecVP9:
		return fmt.Errorf("%w: %s in an FLV file (tag at byte %d) is not played yet: H.264 and H.265", ErrUnplayable, tag.Codec, off)
	case w.video != nil && w.video.Codec != tag.Codec:
		return fmt.Errorf("%w: the video codec changes at byte %d: one file, one codec", ErrUnplayable, off)
	case tag.Kind == FLVConfig:
		record, err := w.read(data+int64(tag.Data), size-int64(tag.Data))
		if err != nil {
			return err
		}
		parse := codec.H264Track
		if tag.Codec == relay.CodecH265 {
			parse = codec.H265Track
		}
		t, err := parse(record)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnplayable, err)
		}
		if w.video != nil && !bytes.Equal(w.video.Config, t.Config) {
			return fmt.Errorf("%w: the %s settings change at byte %d: one file, one setting", ErrUnplayable, t.Codec, off)
		}
		w.video = t
	case w.video != nil && size > int64(tag.Data): // frames before the configuration cannot be decoded
		w.vs = append(w.vs, Sample{Offset: data + int64(tag.Data), Size: uint32(size - int64(tag.Data)), Key: tag.Key,
			DTS: at, PTS: at + tag.CTS})
	}
	return nil
}

func (w *flvWalk) audioTag(body []byte, data, size int64, at time.Duration) error {
	if size == 0 {
		return nil
	}
	tag, err := ParseFLVAudio(body)
	switch {
	case err != nil || tag.Kind == FLVSkip:
		return nil // audio in another codec is left out, as an MP4's is
	case w.audio != nil && w.audio.Codec != tag.Codec:
		return fmt.Errorf("%w: the audio codec changes mid-file", ErrUnplayable)
	case tag.Kind == FLVConfig:
		config, err := w.read(data+int64(tag.Data), size-int64(tag.Data))
		if err != nil {
			return err
		}
		parse := codec.AACTrack
		if tag.Codec == relay.CodecOpus {
			parse = codec.OpusTrack
		}
		t, err := parse(config)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnplayable, err)
		}
		if w.audio != nil && !bytes.Equal(w.audio.Config, t.Config) {
			return fmt.Errorf("%w: the %s settings change mid-file", ErrUnplayable, t.Codec)
		}
		w.audio = t
	case w.audio != nil && size > int64(tag.Data):
		w.as = append(w.as, Sample{Offset: data + int64(tag.Data), Size: uint32(size - int64(tag.Data)), Key: true, DTS: at, PTS: at})
	}
	return nil
}

func (w *flvWalk) read(off, n int64) ([]byte, error) {
	if n <= 0 || n > 1<<16 {
		return nil, fmt.Errorf("%w: codec configuration of %d bytes", ErrUnplayable, n)
	}
	b := make([]byte, n)
	return b, flvRead(w.r, off, b)
}

func flvRead(r io.ReaderAt, off int64, b []byte) error {
	if _, err := r.ReadAt(b, off); err != nil {
		return fmt.Errorf("%w: cut short at byte %d", ErrUnplayable, off)
	}
	return nil
}

// index merges the tracks' samples in decode order, from time zero, video first.
func (w *flvWalk) index() (*Index, error) {
	ix := &w.ix
	var all []Sample
	for _, t := range []struct {
		track   *relay.Track
		samples []Sample
	}{{w.video, w.vs}, {w.audio, w.as}} {
		if t.track == nil || len(t.samples) == 0 {
			continue
		}
		n := uint8(len(ix.Tracks))
		ix.Tracks = append(ix.Tracks, t.track)
		for _, s := range t.samples {
			s.Track = n
			all = append(all, s)
		}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: no H.264 or H.265 video, nor AAC or Opus audio, in the FLV", ErrUnplayable)
	}
	slices.SortStableFunc(all, func(a, b Sample) int {
		if a.DTS != b.DTS {
			return int(a.DTS - b.DTS)
		}
		return int(a.Track) - int(b.Track)
	})
	// A track lasts until its last sample has lasted as long as the one before it.
	zero := all[0].DTS
	last := make([]time.Duration, len(ix.Tracks))
	step := make([]time.Duration, len(ix.Tracks))
	for i := range all {
		all[i].DTS -= zero
		all[i].PTS -= zero
		s := all[i]
		step[s.Track], last[s.Track] = s.DTS-last[s.Track], s.DTS
	}
	for t := range ix.Tracks {
		ix.Duration = max(ix.Duration, last[t]+step[t])
	}
	ix.Samples = all
	return ix, nil
}
