package record

import (
	"fmt"
	"io"
	"slices"
	"time"

	mfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

// segment is one recording file being written: the init segment (ftyp+moov), then one
// fragment (moof+mdat) about every FragmentEvery of media, each written whole with one
// write, so a file cut at any moment holds every fragment before the cut.
type segment struct {
	w     io.WriteCloser
	file  string
	start time.Duration // stream time of the first frame: the file's time zero
	slots []*slot       // by track: video first
	seq   uint32
	from  time.Duration // stream time the fragment being gathered starts at
	bytes int64         // written, a failed write's part included
	good  int64         // written by writes that succeeded: whole boxes
	// fragments counts the fragments written: a file with none is no playable file.
	fragments int
	created   time.Time
}

// slot is one track of a segment.
type slot struct {
	track   *relay.Track
	id      int
	scale   int64
	pending *relay.Frame // the latest frame, whose duration the next one tells
	samples []*mfmp4.Sample
	base    int64 // decode time of samples[0], in ticks
	lastDur int64 // of the latest sample, in ticks
}

func newSegment(w io.WriteCloser, file string, tracks []*relay.Track, start time.Duration) (*segment, error) {
	video, audio := relay.FirstTracks(tracks, format.InFMP4) // as the live outputs choose
	init, _, err := format.FMP4Init(video, audio)
	if err != nil {
		return nil, err
	}
	s := &segment{w: w, file: file, start: start, from: start, created: time.Now()}
	if video != nil {
		s.slots = append(s.slots, &slot{track: video, id: format.FMP4VideoID, scale: format.FMP4VideoScale})
	}
	if audio != nil {
		scale := int64(audio.ClockRate)
		if scale == 0 {
			scale = int64(audio.SampleRate)
		}
		if scale == 0 {
			return nil, fmt.Errorf("record %s: audio track without a sample rate", file)
		}
		s.slots = append(s.slots, &slot{track: audio, id: format.FMP4AudioID, scale: scale})
	}
	n, err := w.Write(init)
	s.bytes = int64(n)
	if err != nil {
		return s, writeError{fmt.Errorf("record %s: %w", file, err)}
	}
	s.good = s.bytes
	return s, nil
}

// slotOf returns the slot of a frame's track; nil if the segment does not carry it (a new
// codec configuration needs a new segment).
func (s *segment) slotOf(f *relay.Frame) *slot {
	for _, sl := range s.slots {
		if sl.track == f.Track {
			return sl
		}
	}
	return nil
}

// carries reports whether the segment describes exactly these tracks (of the codecs it
// records).
func (s *segment) carries(tracks []*relay.Track) bool {
	n := 0
	for _, t := range tracks {
		if !format.InFMP4(t.Codec) {
			continue
		}
		n++
		if !slices.ContainsFunc(s.slots, func(sl *slot) bool { return sl.track == t }) {
			return false
		}
	}
	return n == len(s.slots)
}

func (sl *slot) ticks(d time.Duration) int64 {
	return codec.Ticks(d, sl.scale)
}

// add appends a frame; the one before it on its track now has a duration and joins the
// fragment, which goes out once it spans every. The frame's time must not be before the
// segment's start.
func (s *segment) add(sl *slot, f *relay.Frame, every time.Duration) error {
	if p := sl.pending; p != nil {
		sl.push(p, sl.ticks(f.DTS-s.start)-sl.ticks(p.DTS-s.start), s.start)
	}
	sl.pending = f
	if f.DTS-s.from >= every {
		return s.flush(f.DTS)
	}
	return nil
}

func (sl *slot) push(f *relay.Frame, dur int64, start time.Duration) {
	if len(sl.samples) == 0 {
		sl.base = sl.ticks(f.DTS - start)
	}
	sl.lastDur = dur
	sl.samples = append(sl.samples, &mfmp4.Sample{
		Duration:        uint32(max(1, dur)),
		PTSOffset:       int32(sl.ticks(f.PTS-start) - sl.ticks(f.DTS-start)),
		IsNonSyncSample: !f.Key,
		Payload:         f.Payload,
	})
}

// flush writes what is gathered as one fragment.
func (s *segment) flush(now time.Duration) error {
	s.from = now
	s.seq++
	part := mfmp4.Part{SequenceNumber: s.seq}
	for _, sl := range s.slots {
		if len(sl.samples) > 0 {
			part.Tracks = append(part.Tracks, &mfmp4.PartTrack{ID: sl.id, BaseTime: uint64(max(0, sl.base)), Samples: sl.samples})
		}
	}
	if len(part.Tracks) == 0 {
		return nil
	}
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		return fmt.Errorf("record %s: %w", s.file, err)
	}
	for _, sl := range s.slots {
		clear(sl.samples) // hold no payload
		sl.samples = sl.samples[:0]
	}
	n, err := s.w.Write(buf.Bytes())
	s.bytes += int64(n)
	if err != nil {
		return writeError{fmt.Errorf("record %s: %w", s.file, err)}
	}
	s.good = s.bytes
	s.fragments++
	return nil
}

// abandon closes a file whose write failed, cut back to its last whole fragment so that it
// plays to there (a failed write may have written a part of a box).
func (s *segment) abandon() {
	if t, ok := s.w.(interface{ Truncate(int64) error }); ok && s.bytes > s.good {
		_ = t.Truncate(s.good)
	}
	_ = s.w.Close()
}

// close writes the last frames, each as long as the one before it on its track (a frame's
// length is unknown until the next), and closes the file.
func (s *segment) close(last time.Duration) error {
	for _, sl := range s.slots {
		if p := sl.pending; p != nil {
			dur := sl.lastDur
			if dur <= 0 {
				dur = sl.ticks(time.Second / 30)
			}
			sl.push(p, dur, s.start)
			sl.pending = nil
		}
	}
	if err := s.flush(last); err != nil {
		s.abandon()
		return err
	}
	if err := s.w.Close(); err != nil {
		return writeError{fmt.Errorf("record %s: %w", s.file, err)}
	}
	return nil
}
