// Package codec knows the codecs every input and output shares, so that no output imports
// ingest: the configurations of H.264, H.265, AV1, VP9, AAC and Opus (parsed from what a
// publisher sends, written back as each container wants them), access units in both
// framings, and time: Ticks and Duration, the one exact conversion between durations and
// clock ticks, and Timeline, which keeps a source's timestamps monotonic through counter
// wraps and encoder clock jumps. The containers built on them are in format.
package codec
