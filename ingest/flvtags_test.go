package ingest

// Enhanced RTMP packet types and sound format, as the tests build tags by hand.
const (
	exSequenceStart   = 0
	exCodedFrames     = 1
	exCodedFramesX    = 3
	exVideoMultitrack = 6
	flvSoundEx        = 9
	avcNALU           = 1
)
