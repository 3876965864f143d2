package ingest

import (
	"errors"
	"fmt"

	"github.com/relaycast/relaycast/codec"
)

// FLV tag types.
const (
	TagAudio  = 8
	TagVideo  = 9
	TagScript = 18
)

// Tag is one tag of an FLV file. Body aliases the file's bytes.
type Tag struct {
	Type      byte
	Timestamp uint32 // milliseconds
	Body      []byte
}

// ParseFLVFile splits a whole FLV file into its tags.
func ParseFLVFile(b []byte) ([]Tag, error) {
	if len(b) < 9 || string(b[:3]) != "FLV" {
		return nil, errors.New("flv file: no FLV signature")
	}
	off := int(uint32(b[5])<<24 | uint32(b[6])<<16 | uint32(b[7])<<8 | uint32(b[8]))
	if off < 9 || off > len(b) {
		return nil, fmt.Errorf("flv file: header size %d", off)
	}
	b = b[off:]
	var tags []Tag
	for {
		if len(b) < 4 { // PreviousTagSize
			return tags, nil
		}
		b = b[4:]
		if len(b) == 0 {
			return tags, nil
		}
		if len(b) < 11 {
			return nil, fmt.Errorf("flv file: tag header %w", codec.ErrShort)
		}
		size := int(uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
		ts := uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]) | uint32(b[7])<<24
		if len(b) < 11+size {
			return nil, fmt.Errorf("flv file: tag of %d bytes: %w", size, codec.ErrShort)
		}
		tags = append(tags, Tag{Type: b[0] & 0x1f, Timestamp: ts, Body: b[11 : 11+size]})
		b = b[11+size:]
	}
}

// Feed passes one tag to the ingest. Script tags other than onMetaData are ignored.
func (x *FLV) Feed(t Tag, tsOffset uint32) error {
	switch t.Type {
	case TagVideo:
		return x.Video(t.Timestamp+tsOffset, t.Body)
	case TagAudio:
		return x.Audio(t.Timestamp+tsOffset, t.Body)
	case TagScript:
		x.Metadata(t.Body)
	}
	return nil
}
