package relay

import "time"

// Frame is one access unit of one track. Once handed to Publisher.WriteFrame it is shared by
// every reader and nobody writes to it again.
type Frame struct {
	Track *Track
	// DTS and PTS are on the stream's timeline, which starts at zero and runs on across
	// publisher hand-overs. PTS-DTS is the B-frame reordering delay.
	DTS, PTS time.Duration
	// Key marks a frame a decoder can start from: a video IDR, or any audio frame.
	Key bool
	// Payload is the coded data: H.264 as AVCC (4-byte length-prefixed NAL units), AAC as a
	// raw access unit.
	Payload []byte
}

// isVideoKey reports whether a reader may start playback at this frame.
func (f *Frame) isVideoKey() bool { return f.Key && f.Track.Codec.IsVideo() }
