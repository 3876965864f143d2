// Package format holds the containers the server writes, codec-neutral above the codecs it
// carries: fragmented MP4 init segments and sample entries (browsers' fMP4, LL-HLS, HLS VOD,
// recordings) and MPEG-TS (SRT readers and pushes, HLS VOD), each from relay tracks and frames.
// codec below it keeps codec configs, access units and the one exact time conversion.
package format
