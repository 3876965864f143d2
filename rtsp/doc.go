// Package rtsp is the RTSP server: every live relay path is also served at
// rtsp://HOST:8554/PATH, over RTP/UDP, RTP interleaved in the RTSP TCP connection, and UDP
// multicast. Each stream is packetized once, by one feed, and the same RTP bytes go to every
// session. Its client side is what a link calls: Pull a stream into the relay, Push one to
// another server (RECORD).
package rtsp
