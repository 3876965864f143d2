// Package rtmp is the RTMP server: encoders publish into the relay through ingest, players
// read from it. Sessions are driven by go-rtmp; media to players bypasses its per-message
// copies and goes out as chunks written straight from the shared frame payloads. Its
// client side is what a link calls: Pull a stream into the relay, Dial a publish and Send a
// stream to it.
package rtmp
