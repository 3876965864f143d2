package format

import (
	"encoding/binary"
	"fmt"
	"io"
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

// addFragments places every sample of the file's fragments, up to size.
func (ix *Index) addFragments(r io.ReadSeeker, size int64, tracks map[uint32]*fragTrack) error {
	if err := readTrex(r, tracks); err != nil {
		return err
	}
	next := map[uint32]int64{} // decode time after the last sample of each track, for fragments without tfdt
	for off := int64(0); off+8 <= size; {
		boxSize, typ, hdr, err := boxHeader(r, off)
		if err != nil {
			return err
		}
		if typ == "moof" {
			moof := &mp4.BoxInfo{Offset: uint64(off), Size: uint64(boxSize), HeaderSize: uint64(hdr), Type: mp4.BoxTypeMoof()}
			if err := ix.addMoof(r, moof, size, tracks, next); err != nil {
				return err
			}
		}
		off += boxSize
	}
	return nil
}

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

// addMoof places the samples of one moof's track fragments.
func (ix *Index) addMoof(r io.ReadSeeker, moof *mp4.BoxInfo, size int64, tracks map[uint32]*fragTrack, next map[uint32]int64) error {
	trafs, err := mp4.ExtractBox(r, moof, mp4.BoxPath{mp4.BoxTypeTraf()})
	if err != nil {
		return fmt.Errorf("%w: traf at byte %d: %v", ErrUnplayable, moof.Offset, err)
	}
	for _, traf := range trafs {
		boxes, err := mp4.ExtractBoxesWithPayload(r, traf, []mp4.BoxPath{{mp4.BoxTypeTfhd()}, {mp4.BoxTypeTfdt()}, {mp4.BoxTypeTrun()}})
		if err != nil {
			return fmt.Errorf("%w: track fragment at byte %d: %v", ErrUnplayable, traf.Offset, err)
		}
		var (
			tfhd  *mp4.Tfhd
			tfdt  *mp4.Tfdt
			truns []*mp4.Trun
		)
		for _, b := range boxes {
			switch p := b.Payload.(type) {
			case *mp4.Tfhd:
				tfhd = p
			case *mp4.Tfdt:
				tfdt = p
			case *mp4.Trun:
				truns = append(truns, p)
			}
		}
		if tfhd == nil {
			return fmt.Errorf("%w: track fragment at byte %d has no tfhd", ErrUnplayable, traf.Offset)
		}
		t := tracks[tfhd.TrackID]
		if t == nil {
			continue // a track not carried
		}
		dts := next[tfhd.TrackID]
		if tfdt != nil {
			dts = int64(tfdt.GetBaseMediaDecodeTime())
		}
		base := int64(moof.Offset) // default-base-is-moof, and what a lone traf means without it
		if tfhd.CheckFlag(mp4.TfhdBaseDataOffsetPresent) {
			base = int64(tfhd.BaseDataOffset)
		}
		for _, trun := range truns {
			if dts, err = ix.addTrun(t, tfhd, trun, base, dts, size); err != nil {
				return err
			}
		}
		next[tfhd.TrackID] = dts
	}
	return nil
}

// addTrun places the samples of one track run and returns the decode time after them.
func (ix *Index) addTrun(t *fragTrack, tfhd *mp4.Tfhd, trun *mp4.Trun, base, dts, size int64) (int64, error) {
	defDur, defSize, defFlags := t.trex.DefaultSampleDuration, t.trex.DefaultSampleSize, t.trex.DefaultSampleFlags
	if tfhd.CheckFlag(mp4.TfhdDefaultSampleDurationPresent) {
		defDur = tfhd.DefaultSampleDuration
	}
	if tfhd.CheckFlag(mp4.TfhdDefaultSampleSizePresent) {
		defSize = tfhd.DefaultSampleSize
	}
	if tfhd.CheckFlag(mp4.TfhdDefaultSampleFlagsPresent) {
		defFlags = tfhd.DefaultSampleFlags
	}
	at := func(ticks int64) time.Duration { return codec.Duration(ticks, int64(t.timescale)) }
	off := base + int64(trun.DataOffset)
	for i, e := range trun.Entries {
		dur, sz, flags := defDur, defSize, defFlags
		if trun.CheckFlag(0x100) {
			dur = e.SampleDuration
		}
		if trun.CheckFlag(0x200) {
			sz = e.SampleSize
		}
		if trun.CheckFlag(0x400) {
			flags = e.SampleFlags
		} else if i == 0 && trun.CheckFlag(0x004) {
			flags = trun.FirstSampleFlags
		}
		var cto int64
		if trun.CheckFlag(0x800) {
			cto = int64(e.SampleCompositionTimeOffsetV1)
			if trun.GetVersion() == 0 {
				cto = int64(e.SampleCompositionTimeOffsetV0)
			}
		}
		ix.fragBytes += int64(sz)
		if off < 0 || sz > maxSample || off+int64(sz) > size || ix.fragBytes > size {
			return 0, fmt.Errorf("%w: a sample of track %d lies past the end of the file, or over another", ErrUnplayable, t.n)
		}
		ix.Samples = append(ix.Samples, Sample{Offset: off, Size: sz, Track: t.n, Key: flags&sampleIsNonSync == 0,
			DTS: at(dts), PTS: at(dts + cto)})
		off += int64(sz)
		dts += int64(dur)
	}
	ix.Duration = max(ix.Duration, at(dts))
	return dts, nil
}
