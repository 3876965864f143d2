package ingest

import "github.com/relaycast/relaycast/format"

// Feed passes one tag to the ingest. Script tags other than onMetaData are ignored.
func (x *FLV) Feed(t format.FLVFileTag, tsOffset uint32) error {
	switch t.Type {
	case format.FLVVideo:
		return x.Video(t.Timestamp+tsOffset, t.Body)
	case format.FLVAudio:
		return x.Audio(t.Timestamp+tsOffset, t.Body)
	case format.FLVScript:
		x.Metadata(t.Body)
	}
	return nil
}
