// Package webrtc serves relay streams to browsers over WebRTC: WHEP playback, every peer's
// ICE on one UDP and one TCP port, each stream packetized into RTP once (a relay.Derive) and
// sent to every viewer by pion with only its own SSRC, SRTP and send.
package webrtc
