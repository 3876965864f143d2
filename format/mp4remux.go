package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/relaycast/relaycast/codec"
)

// Remux is a faststart MP4 made from a file's index, for a file that is not one (an FLV,
// an MP4 whose moov comes after its media): its header (ftyp, moov with every sample table,
// the mdat header) is made once per version of the file, and its media bytes are the file's
// samples, read from the file where a request's range falls. No copy of the file is made.
type Remux struct {
	ix     *Index
	header []byte
	order  []int32 // the index's sample of each sample of mdat, in mdat's order
	ends   []int64 // where each of those ends in the remuxed file
	size   int64
}

// NewRemux lays out the remuxed file of ix with mediacommon's MP4 writer: it writes the
// header, and asks for each sample's bytes in mdat's order, which is all it needs to know.
func NewRemux(ix *Index) (*Remux, error) {
	p := pmp4.Presentation{}
	scales := make([]int64, len(ix.Tracks))
	for i, t := range ix.Tracks {
		pt := &pmp4.Track{ID: i + 1}
		var err error
		if t.Codec.IsVideo() {
			pt.TimeScale = FMP4VideoScale
			pt.Codec, _, err = VideoSampleEntry(t)
		} else {
			pt.TimeScale = uint32(t.ClockRate)
			pt.Codec, _, err = AudioSampleEntry(t)
		}
		if err != nil {
			return nil, fmt.Errorf("remux: %w", err)
		}
		scales[i] = int64(pt.TimeScale)
		p.Tracks = append(p.Tracks, pt)
	}
	ticks := func(tr uint8, d time.Duration) int64 { return codec.Ticks(d, scales[tr]) }
	r := &Remux{ix: ix}
	var data int64
	byTrack := make([][]int, len(ix.Tracks))
	for i, s := range ix.Samples {
		byTrack[s.Track] = append(byTrack[s.Track], i)
		data += int64(s.Size)
	}
	if data > math.MaxUint32-8 {
		return nil, errors.New("remux: over 4 GiB of media, more than one mdat of this writer holds")
	}
	shift := ix.presentationStart()
	for tr, samples := range byTrack {
		pt := p.Tracks[tr]
		if len(samples) > 0 {
			pt.TimeOffset = int32(ticks(uint8(tr), ix.Samples[samples[0]].DTS-shift))
		}
		for k, i := range samples {
			s := ix.Samples[i]
			var dur int64
			switch {
			case k+1 < len(samples):
				dur = ticks(s.Track, ix.Samples[samples[k+1]].DTS) - ticks(s.Track, s.DTS)
			case k > 0:
				dur = ticks(s.Track, s.DTS) - ticks(s.Track, ix.Samples[samples[k-1]].DTS)
			default:
				dur = ticks(s.Track, time.Second/30)
			}
			pt.Samples = append(pt.Samples, &pmp4.Sample{
				Duration:        uint32(max(1, dur)),
				PTSOffset:       int32(ticks(s.Track, s.PTS) - ticks(s.Track, s.DTS)),
				IsNonSyncSample: !s.Key,
				PayloadSize:     s.Size,
				GetPayload: func() ([]byte, error) {
					r.order = append(r.order, int32(i))
					return nil, nil
				},
			})
		}
	}
	var header bytes.Buffer
	if err := p.Marshal(&header); err != nil {
		return nil, fmt.Errorf("remux: %w", err)
	}
	r.header = header.Bytes()
	if ix.ShowUntil > 0 {
		trimEdits(r.header, ix.ShowUntil-shift)
	}
	r.ends = make([]int64, len(r.order))
	end := int64(len(r.header))
	for k, i := range r.order {
		end += int64(ix.Samples[i].Size)
		r.ends[k] = end
	}
	r.size = end
	return r, nil
}

// trimEdits ends the presentation of every track of a laid-out moov at until (from the
// presentation's start): the last entry of each edit list (elst, version 0, as mediacommon
// writes it, in milliseconds) is cut so that the entries before it and it add up to until.
func trimEdits(moov []byte, until time.Duration) {
	want := uint32(until / time.Millisecond)
	for i := 0; ; {
		k := bytes.Index(moov[i:], []byte("elst"))
		if k < 4 {
			return
		}
		box := moov[i+k-4:]
		i += k + 4
		n := int(binary.BigEndian.Uint32(box[12:16]))
		if box[8] != 0 || n == 0 || len(box) < 16+12*n {
			continue // not a version 0 edit list with its entries
		}
		var before uint32
		for e := range n - 1 {
			before += binary.BigEndian.Uint32(box[16+12*e:])
		}
		last := box[16+12*(n-1):]
		if cur := binary.BigEndian.Uint32(last); before < want && want-before < cur {
			binary.BigEndian.PutUint32(last, want-before)
		}
	}
}

// presentationStart is the earliest presentation time of the video (of any track if none):
// the remuxed file's time zero, so that its first picture shows at zero.
func (ix *Index) presentationStart() time.Duration {
	start, found := time.Duration(0), false
	for _, s := range ix.Samples {
		if ix.Tracks[s.Track].Codec.IsVideo() && (!found || s.PTS < start) {
			start, found = s.PTS, true
		}
	}
	return start
}

// Size is the remuxed file's length.
func (m *Remux) Size() int64 { return m.size }

// Open returns a reader of the remuxed file of f, the file m was made from: the header from
// memory, the media from f.
func (m *Remux) Open(f io.ReaderAt) io.ReadSeeker { return &remuxReader{m: m, f: f} }

type remuxReader struct {
	m   *Remux
	f   io.ReaderAt
	off int64
}

func (r *remuxReader) Read(b []byte) (int, error) {
	m := r.m
	if r.off >= m.size {
		return 0, io.EOF
	}
	if r.off < int64(len(m.header)) {
		n := copy(b, m.header[r.off:])
		r.off += int64(n)
		return n, nil
	}
	k := sort.Search(len(m.ends), func(k int) bool { return m.ends[k] > r.off })
	s := m.ix.Samples[m.order[k]]
	within := r.off - (m.ends[k] - int64(s.Size))
	n := int(min(int64(len(b)), int64(s.Size)-within))
	if _, err := r.f.ReadAt(b[:n], s.Offset+within); err != nil {
		return 0, fmt.Errorf("remux: read sample: %w", err)
	}
	r.off += int64(n)
	return n, nil
}

func (r *remuxReader) Seek(offset int64, whence int) (int64, error) {
	pos, err := seekTo(r.off, r.m.size, offset, whence)
	if err == nil {
		r.off = pos
	}
	return pos, err
}
