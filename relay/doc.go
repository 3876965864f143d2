// Package relay is the codec-neutral hub between publishers and viewers: tracks, frames, live
// streams with their shared frame ring and readers, and the registry of live paths.
//
// A Frame is published once and shared, immutable, by every reader; a reader costs a position
// in the ring, never a copy of a payload. Publishing never waits for a reader.
package relay
