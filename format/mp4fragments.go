package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"time"

	mp4 "github.com/abema/go-mp4"

	"github.com/relaycast/relaycast/codec"
)

// A fragmented MP4 (recordings; also what many encoders write) keeps its samples in
// moof+mdat pairs after an empty moov: each moof's track fragments (traf) say where their
// samples lie (tfhd, trun) and when they start (tfdt).

// fragTrack is what the fragments of one track need from the moov.
type fragTrack struct {
	n         uint8 // into Index.Tracks
	timescale uint32
	trex      mp4.Trex // defaults for its fragments
}

var sampleIsNonSync uint32 = 0x10000 // sample_is_non_sync_sample in a sample's flags

// box is a top-level box: where it starts, its size and its header's.
type box struct{ off, size, hdr int64 }

// addFragments places every sample of the file's fragments (moofs), up to size; with
// last > 0, of the last fragments only.
func (ix *Index) addFragments(r io.ReadSeeker, size int64, moofs []box, tracks map[uint32]*fragTrack, last int) error {
	if last > 0 {
		moofs = moofs[max(0, len(moofs)-last):]
	}
	next := map[uint32]int64{} // decode time after the last sample of each track, for fragments without tfdt
	var buf []byte
	for _, m := range moofs {
		buf = slices.Grow(buf[:0], int(m.size))[:m.size]
		if err := readAt(r, m.off, buf); err != nil {
			return err
		}
		if err := ix.addMoof(buf[m.hdr:], m.off, size, tracks, next); err != nil {
			return fmt.Errorf("%w: moof at byte %d: %v", ErrUnplayable, m.off, err)
		}
	}
	return nil
}

// maxMoof bounds one moof box: 16 bytes a sample, for a million samples.
const maxMoof = 16 << 20

// boxHeader reads the header of the box at off: its size (the rest of the file for 0), type
// and header length. checkTables has seen every top-level box fit in the file.
func boxHeader(r io.ReadSeeker, off int64) (int64, string, int64, error) {
	var h [16]byte
	if err := readAt(r, off, h[:8]); err != nil {
		return 0, "", 0, err
	}
	size, typ, hdr := int64(binary.BigEndian.Uint32(h[:4])), string(h[4:8]), int64(8)
	switch size {
	case 0:
		end, err := r.Seek(0, io.SeekEnd)
		if err != nil {
			return 0, "", 0, err
		}
		size = end - off
	case 1:
		if err := readAt(r, off+8, h[8:16]); err != nil {
			return 0, "", 0, err
		}
		size, hdr = int64(binary.BigEndian.Uint64(h[8:16])), 16
	}
	if size < hdr {
		return 0, "", 0, fmt.Errorf("%w: box %q at byte %d is %d bytes", ErrUnplayable, typ, off, size)
	}
	return size, typ, hdr, nil
}

func readTrex(r io.ReadSeeker, tracks map[uint32]*fragTrack) error {
	boxes, err := mp4.ExtractBoxWithPayload(r, nil, mp4.BoxPath{mp4.BoxTypeMoov(), mp4.BoxTypeMvex(), mp4.BoxTypeTrex()})
	if err != nil {
		return fmt.Errorf("%w: trex: %v", ErrUnplayable, err)
	}
	for _, b := range boxes {
		trex := b.Payload.(*mp4.Trex)
		if t := tracks[trex.TrackID]; t != nil {
			t.trex = *trex
		}
	}
	return nil
}

// The boxes of a moof are read by hand: go-mp4 reads each trun entry through reflection, a
// bit at a time, which made indexing a day of one-minute recordings take 30 s and 15 GB of
// garbage.

var errBox = errors.New("a box runs past its parent")

// eachBox calls f with the type and payload of each box in b (a box's payload).
func eachBox(b []byte, f func(typ string, payload []byte) error) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return errBox
		}
		size, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
		typ := string(b[4:8])
		switch size {
		case 0:
			size = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return errBox
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return errBox
		}
		if err := f(typ, b[hdr:size]); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
}

// fullBox splits a full box's payload into its version, flags and the rest.
func fullBox(p []byte) (uint8, uint32, []byte, error) {
	if len(p) < 4 {
		return 0, 0, nil, errBox
	}
	return p[0], uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]), p[4:], nil
}

// tfhd is a track fragment header, with the track's defaults filled in.
type tfhd struct {
	trackID                   uint32
	base                      int64 // where data offsets count from
	defDur, defSize, defFlags uint32
}

func readTfhd(p []byte, moof int64, tracks map[uint32]*fragTrack) (tfhd, error) {
	_, flags, p, err := fullBox(p)
	// the track ID, then a 64-bit base offset and 32-bit fields, each if its flag is set
	if err != nil || len(p) < 4+8*int(flags&0x01)+4*bits.OnesCount32(flags&0x3a) {
		return tfhd{}, errBox
	}
	h := tfhd{trackID: binary.BigEndian.Uint32(p), base: moof} // default-base-is-moof, and what a lone traf means without it
	p = p[4:]
	if t := tracks[h.trackID]; t != nil {
		h.defDur, h.defSize, h.defFlags = t.trex.DefaultSampleDuration, t.trex.DefaultSampleSize, t.trex.DefaultSampleFlags
	}
	field := func(flag uint32, n int) (uint64, bool) {
		if flags&flag == 0 {
			return 0, false
		}
		var v uint64
		for _, c := range p[:n] {
			v = v<<8 | uint64(c)
		}
		p = p[n:]
		return v, true
	}
	if v, ok := field(0x01, 8); ok {
		h.base = int64(v)
	}
	field(0x02, 4) // sample description index
	if v, ok := field(0x08, 4); ok {
		h.defDur = uint32(v)
	}
	if v, ok := field(0x10, 4); ok {
		h.defSize = uint32(v)
	}
	if v, ok := field(0x20, 4); ok {
		h.defFlags = uint32(v)
	}
	return h, nil
}

// addMoof places the samples of one moof's track fragments (moof: its payload, at byte off).
func (ix *Index) addMoof(moof []byte, off, size int64, tracks map[uint32]*fragTrack, next map[uint32]int64) error {
	return eachBox(moof, func(typ string, traf []byte) error {
		if typ != "traf" {
			return nil
		}
		var (
			h     *tfhd
			tfdt  = int64(-1)
			truns [][]byte
		)
		err := eachBox(traf, func(typ string, p []byte) error {
			switch typ {
			case "tfhd":
				v, err := readTfhd(p, off, tracks)
				h = &v
				return err
			case "tfdt":
				version, _, p, err := fullBox(p)
				switch {
				case err != nil:
					return err
				case version == 1 && len(p) >= 8:
					tfdt = int64(binary.BigEndian.Uint64(p) & math.MaxInt64)
				case version == 0 && len(p) >= 4:
					tfdt = int64(binary.BigEndian.Uint32(p))
				default:
					return errBox
				}
			case "trun":
				truns = append(truns, p)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if h == nil {
			return errors.New("a track fragment without tfhd")
		}
		t := tracks[h.trackID]
		if t == nil {
			return nil // a track not carried
		}
		dts := next[h.trackID]
		if tfdt >= 0 {
			dts = tfdt
		} else {
			ix.untimed = true
		}
		for _, trun := range truns {
			if dts, err = ix.addTrun(t, h, trun, dts, size); err != nil {
				return err
			}
		}
		next[h.trackID] = dts
		return nil
	})
}

// addTrun places the samples of one track run and returns the decode time after them.
func (ix *Index) addTrun(t *fragTrack, h *tfhd, trun []byte, dts, size int64) (int64, error) {
	version, flags, p, err := fullBox(trun)
	if err != nil || len(p) < 4 {
		return 0, errBox
	}
	count := binary.BigEndian.Uint32(p)
	p = p[4:]
	off := h.base
	u32 := func() uint32 { v := binary.BigEndian.Uint32(p); p = p[4:]; return v }
	if len(p) < 4*bits.OnesCount32(flags&0x005) {
		return 0, errBox // the data offset and first sample's flags its flags say it has
	}
	if flags&0x001 != 0 {
		off += int64(int32(u32()))
	}
	firstFlags, hasFirst := h.defFlags, false
	if flags&0x004 != 0 {
		firstFlags, hasFirst = u32(), true
	}
	per := 4 * bits.OnesCount32(flags&0xf00)
	if uint64(count)*uint64(per) > uint64(len(p)) {
		return 0, fmt.Errorf("%w: a run of %d samples in %d bytes", ErrUnplayable, count, len(p))
	}
	at := func(ticks int64) time.Duration { return codec.Duration(ticks, int64(t.timescale)) }
	for i := range count {
		dur, sz, fl := h.defDur, h.defSize, h.defFlags
		if i == 0 && hasFirst {
			fl = firstFlags
		}
		var cto int64
		if flags&0x100 != 0 {
			dur = u32()
		}
		if flags&0x200 != 0 {
			sz = u32()
		}
		if flags&0x400 != 0 {
			fl = u32()
		}
		if flags&0x800 != 0 {
			cto = int64(int32(u32()))
			if version == 0 {
				cto = int64(uint32(cto))
			}
		}
		ix.fragBytes += int64(sz)
		if off < 0 || sz > maxSample || off+int64(sz) > size || ix.fragBytes > size {
			return 0, fmt.Errorf("%w: a sample of track %d lies past the end of the file, or over another", ErrUnplayable, t.n)
		}
		ix.Samples = append(ix.Samples, Sample{Offset: off, Size: sz, Track: t.n, Key: fl&sampleIsNonSync == 0,
			DTS: at(dts), PTS: at(dts + cto)})
		off += int64(sz)
		dts += int64(dur)
	}
	ix.Duration = max(ix.Duration, at(dts))
	return dts, nil
}
