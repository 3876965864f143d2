// Package format holds the containers, codec-neutral above the codecs they carry: FLV tags
// (read from RTMP publishers, pulls and stored files; written to RTMP players and pushes),
// fragmented MP4 init segments and sample entries (browsers' fMP4, LL-HLS, recordings),
// MPEG-TS (SRT readers and pushes, HLS VOD), and stored files: the sample index of an MP4
// or FLV file, read behind a guard, and the faststart MP4 remuxed from it. codec below it
// keeps codec configs, access units and the one exact time conversion.
package format
