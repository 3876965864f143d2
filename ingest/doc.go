// Package ingest turns what publishers and sources send into relay frames, one reader per
// input: FLV tags as RTMP and enhanced RTMP carry them (and FLV files), RTP packets of an
// RTSP session or pull (H.264, H.265, AV1, VP9, AAC, Opus), MPEG-TS from SRT and files,
// HLS sources through gohlslib's client, and the built-in demo stream. Each input's
// timestamps run on one codec.Timeline; those whose tracks come apart (MPEG-TS, RTP, HLS) go
// through an interleaver that hands frames on in DTS order. After
// a loss (a lost RTP packet, a broken PES) a video track waits for the next keyframe, so no
// output gets a picture its players would have to conceal. Every payload is copied exactly
// once, here; from then on it is shared read-only.
package ingest
