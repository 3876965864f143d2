package format

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The go-mp4 prober trusts the counts inside an MP4's sample tables: an stts entry claiming
// four billion samples makes it append four billion of them, and five bytes of a file end
// the process. checkTables walks the boxes first, headers only plus the counts of the boxes
// the prober reads, and refuses any table whose entries do not fit in its box, and sample
// counts no file of this size can hold (every sample is at least one byte).

const (
	maxBoxes = 1 << 16 // boxes visited at most: a real file has hundreds
	// maxFragmentedBoxes: a fragmented file has a handful per fragment, a fragment a second
	maxFragmentedBoxes = 1 << 22
)

// tableEntry is the size of one entry of each table box the prober reads, by type.
var tableEntry = map[string]int64{"stts": 8, "ctts": 8, "stsc": 12, "stco": 4, "co64": 8, "elst": 12, "stss": 4}

var containers = map[string]bool{"moov": true, "trak": true, "mdia": true, "minf": true, "stbl": true, "edts": true,
	"mvex": true, "moof": true, "traf": true}

// checkTables also returns how much of the file is whole: less than size when a fragmented
// file ends in a fragment cut short, which is then left out.
func checkTables(r io.ReadSeeker, size int64) (int64, error) {
	w := boxWalk{r: r, fileSize: size, whole: size}
	return w.whole, w.walk(0, size, 0)
}

type boxWalk struct {
	r         io.ReadSeeker
	fileSize  int64
	visited   int
	fragments bool  // a moof came
	lastMoof  int64 // where the latest one starts
	samples   int64 // in the track runs so far
	whole     int64 // end of the last whole fragment, if one is cut
}

func (w *boxWalk) walk(from, to int64, depth int) error {
	r, fileSize := w.r, w.fileSize
	for off := from; off+8 <= to; {
		w.visited++
		if w.visited > maxBoxes && !w.fragments || w.visited > maxFragmentedBoxes || depth > 8 {
			return fmt.Errorf("%w: more boxes than any real file has", ErrUnplayable)
		}
		var h [16]byte
		if err := readAt(r, off, h[:8]); err != nil {
			return err
		}
		boxSize, typ, hdr := int64(binary.BigEndian.Uint32(h[:4])), string(h[4:8]), int64(8)
		if !boxType(h[4:8]) || off == 0 && depth == 0 && !firstBoxes[typ] {
			return fmt.Errorf("%w: no MP4 box at byte %d (not an MP4 file?)", ErrUnplayable, off)
		}
		switch boxSize {
		case 0:
			boxSize = to - off
		case 1:
			if err := readAt(r, off+8, h[8:16]); err != nil {
				return err
			}
			boxSize, hdr = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		if depth == 0 && typ == "moof" {
			w.fragments, w.lastMoof = true, off
		}
		if boxSize < hdr || boxSize > to-off {
			if depth == 0 && w.fragments && (typ == "moof" || typ == "mdat") {
				w.whole = off
				if typ == "mdat" { // its moof points into it
					w.whole = w.lastMoof
				}
				return nil
			}
			if depth == 0 {
				return fmt.Errorf("%w: box %q at byte %d needs %d bytes but the file ends at %d: the file is cut short",
					ErrUnplayable, typ, off, boxSize, fileSize)
			}
			return fmt.Errorf("%w: box %q at byte %d claims %d bytes, past its parent's end", ErrUnplayable, typ, off, boxSize)
		}
		body, bodyLen := off+hdr, boxSize-hdr
		if containers[typ] {
			if err := w.walk(body, body+bodyLen, depth+1); err != nil {
				return err
			}
		} else if typ == "trun" {
			if err := w.checkTrun(body, bodyLen); err != nil {
				return err
			}
		} else if err := checkTable(r, typ, body, bodyLen, fileSize); err != nil {
			return err
		}
		off += boxSize
	}
	return nil
}

func checkTable(r io.ReadSeeker, typ string, body, n, fileSize int64) error {
	entry, ok := tableEntry[typ]
	if typ == "stsz" {
		var b [12]byte
		if n < 12 || readAt(r, body, b[:]) != nil {
			return fmt.Errorf("%w: stsz box too short", ErrUnplayable)
		}
		count := int64(binary.BigEndian.Uint32(b[8:12]))
		if count > fileSize || binary.BigEndian.Uint32(b[4:8]) == 0 && count*4 > n-12 {
			return fmt.Errorf("%w: stsz lists %d samples, more than the box or the file holds", ErrUnplayable, count)
		}
		return nil
	}
	if !ok {
		return nil
	}
	var b [8]byte
	if n < 8 || readAt(r, body, b[:]) != nil {
		return fmt.Errorf("%w: %s box too short", ErrUnplayable, typ)
	}
	count := int64(binary.BigEndian.Uint32(b[4:8]))
	if typ == "elst" && b[0] == 1 {
		entry = 20
	}
	if count*entry > n-8 {
		return fmt.Errorf("%w: %s lists %d entries in %d bytes", ErrUnplayable, typ, count, n-8)
	}
	if typ != "stts" {
		return nil
	}
	table := make([]byte, count*entry)
	if err := readAt(r, body+8, table); err != nil {
		return err
	}
	var samples int64
	for i := 0; i < len(table); i += 8 {
		samples += int64(binary.BigEndian.Uint32(table[i : i+4]))
	}
	if samples > fileSize {
		return fmt.Errorf("%w: stts counts %d samples in a %d-byte file", ErrUnplayable, samples, fileSize)
	}
	return nil
}

// maxDefaultRun bounds a track run whose samples all take the defaults (no bytes per entry):
// go-mp4 makes an entry for each.
const maxDefaultRun = 1 << 16

// checkTrun refuses a track run whose entries do not fit in its box (go-mp4 reads as many as
// it claims), and more samples in all than the file has bytes.
func (w *boxWalk) checkTrun(body, n int64) error {
	var b [8]byte
	if n < 8 || readAt(w.r, body, b[:]) != nil {
		return fmt.Errorf("%w: trun box too short", ErrUnplayable)
	}
	flags := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	count := int64(binary.BigEndian.Uint32(b[4:8]))
	fixed, entry := int64(8), int64(0)
	for _, f := range []uint32{0x001, 0x004} {
		if flags&f != 0 {
			fixed += 4
		}
	}
	for _, f := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&f != 0 {
			entry += 4
		}
	}
	w.samples += count
	if fixed > n || count*entry > n-fixed || entry == 0 && count > maxDefaultRun || w.samples > w.fileSize {
		return fmt.Errorf("%w: trun lists %d samples in %d bytes", ErrUnplayable, count, n)
	}
	return nil
}

// firstBoxes are the boxes an MP4 (or QuickTime) file starts with.
var firstBoxes = map[string]bool{"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true, "wide": true, "pdin": true}

// boxType says whether b can be a box type: four printable characters (© included).
func boxType(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != 0xa9 {
			return false
		}
	}
	return true
}

func readAt(r io.ReadSeeker, off int64, b []byte) error {
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("%w: cut short at byte %d", ErrUnplayable, off)
	}
	return nil
}

// moovFirst says whether an MP4's moov box comes before its first mdat.
func moovFirst(r io.ReadSeeker, size int64) bool {
	for off, n := int64(0), 0; off+8 <= size && n < maxBoxes; n++ {
		var h [16]byte
		if readAt(r, off, h[:8]) != nil {
			return false
		}
		boxSize := int64(binary.BigEndian.Uint32(h[:4]))
		switch string(h[4:8]) {
		case "moov":
			return true
		case "mdat":
			return false
		}
		if boxSize == 1 {
			if readAt(r, off+8, h[8:16]) != nil {
				return false
			}
			boxSize = int64(binary.BigEndian.Uint64(h[8:16]))
		}
		if boxSize < 8 {
			return false
		}
		off += boxSize
	}
	return false
}
