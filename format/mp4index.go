package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	mp4 "github.com/abema/go-mp4"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// Index is where every sample of a stored MP4 lies and when it plays: what a viewer needs to
// read the file sample by sample from any position. It is made once per file and shared by
// its viewers; a sample costs 32 bytes.
type Index struct {
	Tracks   []*relay.Track // H.264 first, then AAC
	Duration time.Duration
	Samples  []Sample // every track's, in decode order
	// Cut is where a fragmented file is cut short (a recording whose server was killed, a
	// copy in progress), zero if it is whole: the samples end at the last whole fragment.
	Cut int64
	// ShowUntil, when set, is where presentation ends (a time range cut from recordings):
	// a remuxed file's edit lists stop every track there, to the millisecond, whatever
	// pictures its last decoded frames would show after it.
	ShowUntil time.Duration
	// Progressive says the file is an MP4 a player can start before it has all of it: its
	// moov comes before its media. Any other (an FLV, an MP4 with its moov at the end) is
	// served over HTTP as a faststart MP4 made from the index (progressive.go).
	Progressive bool

	fragBytes int64 // sample bytes of the fragments so far
	untimed   bool  // a track fragment without tfdt came: its time is the sum of those before
}

// Sample is one frame's place in the file.
type Sample struct {
	Offset   int64
	Size     uint32
	Track    uint8 // into Index.Tracks
	Key      bool
	DTS, PTS time.Duration
}

// ReadIndex reads the sample tables of an MP4 of size bytes, or of a fragmented one its
// fragments, up to the last whole one.
func ReadIndex(r io.ReadSeeker, size int64) (*Index, error) { return readIndex(r, size, false) }

// ReadDuration is ReadIndex(r, size).Duration. Of a fragmented MP4 whose last fragments say
// when they start (tfdt) it reads those fragments alone: the book of recordings needs only
// each file's length, and reads a whole day of files when it was lost.
func ReadDuration(r io.ReadSeeker, size int64) (time.Duration, error) {
	ix, err := readIndex(r, size, true)
	if err != nil {
		return 0, err
	}
	return ix.Duration, nil
}

// lastFragments is how many fragments ReadDuration reads: each track's last samples may lie
// in the one before the last.
const lastFragments = 2

func readIndex(r io.ReadSeeker, size int64, durationOnly bool) (*Index, error) {
	if ra, ok := r.(io.ReaderAt); ok {
		if _, inMemory := r.(*bytes.Reader); !inMemory {
			r = newBuffered(ra, size)
		}
	}
	var head [3]byte
	if err := readAt(r, 0, head[:]); err != nil {
		return nil, err
	}
	if isFLV(head[:]) {
		ra, ok := r.(io.ReaderAt)
		if !ok {
			return nil, fmt.Errorf("%w: an FLV needs random access", ErrUnplayable)
		}
		return readFLVIndex(ra, size)
	}
	whole, err := checkTables(r, size)
	if err != nil {
		return nil, err
	}
	cut := int64(0)
	if whole < size {
		ra, ok := r.(io.ReaderAt)
		if !ok {
			return nil, fmt.Errorf("%w: the file is cut short at byte %d", ErrUnplayable, whole)
		}
		r, cut, size = io.NewSectionReader(ra, 0, whole), whole, whole
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	p, moov, moofs, err := probe(r, size)
	fragmentedFile := len(moofs) > 0
	if err != nil {
		return nil, fmt.Errorf("%w: %v (an MP4 needs its moov box; a cut file may have lost it)", ErrUnplayable, err)
	}
	traks, err := mp4.ExtractBox(moov, nil, mp4.BoxPath{mp4.BoxTypeMoov(), mp4.BoxTypeTrak()})
	if err != nil || len(traks) != len(p.Tracks) {
		return nil, fmt.Errorf("%w: track boxes: %v", ErrUnplayable, err)
	}
	ix := &Index{Cut: cut, Progressive: moovFirst(r, size)}
	fragmented := map[uint32]*fragTrack{}
	for i, t := range p.Tracks {
		track, err := relayTrack(r, traks[i], t)
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: track %d: %v", ErrUnplayable, t.TrackID, err)
		}
		if len(t.Samples) == 0 && fragmentedFile && t.Timescale != 0 {
			fragmented[t.TrackID] = &fragTrack{n: uint8(len(ix.Tracks)), timescale: t.Timescale}
			ix.Tracks = append(ix.Tracks, track)
			continue
		}
		if err := ix.addSamples(r, traks[i], t, track, size); err != nil {
			return nil, err
		}
	}
	if len(fragmented) > 0 {
		last := 0
		if durationOnly {
			last = lastFragments
		}
		if err := readTrex(moov, fragmented); err != nil {
			return nil, err
		}
		if err := ix.addFragments(r, size, moofs, fragmented, last); err != nil {
			return nil, err
		}
		if last > 0 && ix.untimed {
			ix.Samples, ix.Duration, ix.fragBytes, ix.untimed = nil, 0, 0, false
			if err := ix.addFragments(r, size, moofs, fragmented, 0); err != nil {
				return nil, err
			}
		}
	}
	if len(ix.Tracks) == 0 {
		return nil, fmt.Errorf("%w: no H.264, H.265 or AV1 video or AAC or Opus audio track (not an MP4, or one cut before its moov box)", ErrUnplayable)
	}
	// Video first, so a frame of each track is at hand as soon as playback starts.
	slices.SortStableFunc(ix.Samples, func(a, b Sample) int {
		if a.DTS != b.DTS {
			return int(a.DTS - b.DTS)
		}
		return int(a.Track) - int(b.Track)
	})
	return ix, nil
}

var errSkip = errors.New("track not carried")

// probe reads the file's tracks from its moov, and finds its fragments (moofs); moov is the
// file up to the moov's end. go-mp4 is given only that: it would read every fragment's boxes
// through reflection, which was most of the cost of indexing a fragmented file, and the
// fragments are indexed here (addFragments).
func probe(r io.ReadSeeker, size int64) (p *mp4.ProbeInfo, moov io.ReadSeeker, moofs []box, err error) {
	moovEnd := size
	for off := int64(0); off+8 <= size; {
		boxSize, typ, hdr, err := boxHeader(r, off)
		if err != nil {
			return nil, nil, nil, err
		}
		switch typ {
		case "moov":
			moovEnd = off + boxSize
		case "moof":
			if boxSize > maxMoof {
				return nil, nil, nil, fmt.Errorf("%w: a moof of %d bytes at byte %d", ErrUnplayable, boxSize, off)
			}
			moofs = append(moofs, box{off, boxSize, hdr})
		}
		off += boxSize
	}
	moov = r
	if ra, ok := r.(io.ReaderAt); ok && len(moofs) > 0 && moovEnd < size {
		moov = io.NewSectionReader(ra, 0, moovEnd)
	}
	if _, err := moov.Seek(0, io.SeekStart); err != nil {
		return nil, nil, nil, err
	}
	p, err = mp4.Probe(moov)
	return p, moov, moofs, err
}

// relayTrack reads the codec configuration of a track: the raw avcC, hvcC or av1C box, the
// AudioSpecificConfig inside esds, or an Opus dOps made an OpusHead.
func relayTrack(r io.ReadSeeker, trak *mp4.BoxInfo, t *mp4.Track) (*relay.Track, error) {
	stsd := mp4.BoxPath{mp4.BoxTypeMdia(), mp4.BoxTypeMinf(), mp4.BoxTypeStbl(), mp4.BoxTypeStsd()}
	switch {
	case t.Encrypted:
		return nil, errSkip
	case t.Codec == mp4.CodecAVC1:
		record, err := boxPayload(r, trak, append(stsd, mp4.BoxTypeAvc1(), mp4.BoxTypeAvcC()))
		if err != nil {
			return nil, fmt.Errorf("avcC: %w", err)
		}
		return codec.H264Track(record)
	case t.Codec == mp4.CodecMP4A && t.MP4A != nil && t.MP4A.OTI == 0x40:
		boxes, err := mp4.ExtractBoxWithPayload(r, trak, append(stsd, mp4.BoxTypeMp4a(), mp4.BoxTypeEsds()))
		if err != nil || len(boxes) == 0 {
			return nil, fmt.Errorf("no esds box: %v", err)
		}
		for _, d := range boxes[0].Payload.(*mp4.Esds).Descriptors {
			if d.Tag == mp4.DecSpecificInfoTag {
				return codec.AACTrack(d.Data)
			}
		}
		return nil, errors.New("no AudioSpecificConfig in esds")
	case t.Codec != mp4.CodecUnknown:
		return nil, errSkip
	}
	// go-mp4 names only avc1 and mp4a: the others by their sample entry.
	for _, e := range []struct {
		entry, config mp4.BoxType
		track         func([]byte) (*relay.Track, error)
	}{
		{mp4.BoxTypeHvc1(), mp4.BoxTypeHvcC(), codec.H265Track},
		{mp4.BoxTypeHev1(), mp4.BoxTypeHvcC(), codec.H265Track},
		{mp4.BoxTypeAv01(), mp4.BoxTypeAv1C(), codec.AV1Track},
	} {
		if entries, err := mp4.ExtractBox(r, trak, append(stsd, e.entry)); err != nil || len(entries) == 0 {
			continue
		}
		record, err := boxPayload(r, trak, append(stsd, e.entry, e.config))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.config, err)
		}
		return e.track(record)
	}
	if boxes, err := mp4.ExtractBoxWithPayload(r, trak, append(stsd, mp4.BoxTypeOpus(), mp4.BoxTypeDOps())); err == nil && len(boxes) > 0 {
		return codec.OpusTrack(opusHead(boxes[0].Payload.(*mp4.DOps)))
	}
	return nil, errSkip
}

// boxPayload reads the payload of the first box at path (a codec configuration record).
func boxPayload(r io.ReadSeeker, trak *mp4.BoxInfo, path mp4.BoxPath) ([]byte, error) {
	boxes, err := mp4.ExtractBox(r, trak, path)
	if err != nil || len(boxes) == 0 {
		return nil, fmt.Errorf("no such box: %v", err)
	}
	b := boxes[0]
	if b.Size-b.HeaderSize > 1<<16 {
		return nil, fmt.Errorf("a box of %d bytes", b.Size)
	}
	record := make([]byte, b.Size-b.HeaderSize)
	if _, err := b.SeekToPayload(r); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(r, record); err != nil {
		return nil, err
	}
	return record, nil
}

// opusHead writes an MP4's Opus configuration (dOps, big-endian) as the OpusHead of Ogg and
// WebM (little-endian) that relay tracks carry.
func opusHead(d *mp4.DOps) []byte {
	h := append([]byte("OpusHead"), 1, d.OutputChannelCount)
	h = binary.LittleEndian.AppendUint16(h, d.PreSkip)
	h = binary.LittleEndian.AppendUint32(h, d.InputSampleRate)
	h = binary.LittleEndian.AppendUint16(h, uint16(d.OutputGain))
	h = append(h, d.ChannelMappingFamily)
	if d.ChannelMappingFamily != 0 {
		h = append(h, d.StreamCount, d.CoupledCount)
		h = append(h, d.ChannelMapping...)
	}
	return h
}

// addSamples places every sample of a track: its offset from the chunk table, its times
// from the durations and composition offsets, keyframes from stss (none: all are).
func (ix *Index) addSamples(r io.ReadSeeker, trak *mp4.BoxInfo, t *mp4.Track, track *relay.Track, size int64) error {
	if t.Timescale == 0 {
		return fmt.Errorf("%w: track %d has no timescale", ErrUnplayable, t.TrackID)
	}
	if err := checkSamples(t, size); err != nil {
		return err
	}
	sync, err := syncSamples(r, trak)
	if err != nil {
		return err
	}
	n := uint8(len(ix.Tracks))
	ix.Tracks = append(ix.Tracks, track)
	at := func(ticks int64) time.Duration {
		return codec.Duration(ticks, int64(t.Timescale))
	}
	var dts int64
	i := 0
	for _, c := range t.Chunks {
		off := int64(c.DataOffset)
		for k := uint32(0); k < c.SamplesPerChunk && i < len(t.Samples); k++ {
			s := t.Samples[i]
			i++
			key := sync == nil || sync[uint32(i)] // stss numbers samples from 1
			ix.Samples = append(ix.Samples, Sample{Offset: off, Size: s.Size, Track: n, Key: key,
				DTS: at(dts), PTS: at(dts + s.CompositionTimeOffset)})
			off += int64(s.Size)
			dts += int64(s.TimeDelta)
		}
	}
	ix.Duration = max(ix.Duration, at(dts))
	return nil
}

// syncSamples reads stss; nil means every sample is a sync sample.
func syncSamples(r io.ReadSeeker, trak *mp4.BoxInfo) (map[uint32]bool, error) {
	boxes, err := mp4.ExtractBoxWithPayload(r, trak,
		mp4.BoxPath{mp4.BoxTypeMdia(), mp4.BoxTypeMinf(), mp4.BoxTypeStbl(), mp4.BoxTypeStss()})
	if err != nil {
		return nil, fmt.Errorf("%w: stss: %v", ErrUnplayable, err)
	}
	if len(boxes) == 0 {
		return nil, nil
	}
	sync := map[uint32]bool{}
	for _, n := range boxes[0].Payload.(*mp4.Stss).SampleNumber {
		sync[n] = true
	}
	return sync, nil
}

// Frame reads sample i into a relay frame (a new payload, which relay frames keep).
func (ix *Index) Frame(r io.ReaderAt, i int) (*relay.Frame, error) {
	s := ix.Samples[i]
	payload := make([]byte, s.Size)
	if _, err := r.ReadAt(payload, s.Offset); err != nil {
		return nil, fmt.Errorf("read sample %d: %w", i, err)
	}
	return &relay.Frame{Track: ix.Tracks[s.Track], DTS: s.DTS, PTS: s.PTS, Key: s.Key, Payload: payload}, nil
}

// KeyframeBefore returns the index of the last video keyframe at or before t (the start of
// the file if none), where playback from t starts.
func (ix *Index) KeyframeBefore(t time.Duration) int {
	start := 0
	for i, s := range ix.Samples {
		if s.DTS > t {
			break
		}
		if s.Key && ix.Tracks[s.Track].Codec.IsVideo() {
			start = i
		}
	}
	return start
}
