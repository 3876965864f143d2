// Package ingest turns a publisher's media into relay frames: FLV tag bodies as RTMP carries
// them (AVC and AAC sequence headers become track configs, composition offsets are kept) and
// the built-in demo stream. Every payload is copied exactly once, here; from then on it is
// shared read-only.
package ingest
