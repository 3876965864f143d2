package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpvp9"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtppack"
)

// Payload types of the derived packets; every viewer's sender rewrites them (and the SSRC) to
// what its own offer negotiated.
const (
	ptVideo = 96
	ptAudio = 111
)

// feed is the one reader of a relay stream for WebRTC: it turns each frame into RTP packets
// once and publishes them as one frame of a derived stream (each packet behind a 2-byte
// length) that every viewer reads. Per viewer only the sender's SSRC and payload type
// rewrite, SRTP and the send remain.
type feed struct {
	src *relay.Stream // keyframe requests go to its publisher
	out *relay.Publisher
	// what it sends, fixed at the start: viewers read these, the deriver writes the rest
	hasVideo, hasAudio bool
	videoCodec         relay.Codec
	noVideo            error // why the stream's video is not sent, if it has some

	video, audio *relay.Track // the derived tracks: what a viewer's answer offers
	videoHistory history      // their latest packets, for every viewer's NACKs
	audioHistory history
	// epoch is when, by the wall clock, the stream's PTS 0 was live (Unix ns): the earliest
	// of every frame's arrival less its PTS. Viewers' sender reports map both tracks' RTP
	// times through it, so browsers keep picture and sound together as the stream has them.
	epoch         atomic.Int64
	srcVideo      *relay.Track // the source track video's packets come from
	videoEnc      videoEncoder
	refused       *relay.Track // a publisher's after a hand-over, whose video is not sent
	params        codec.NALConfig
	opus          *rtpsimpleaudio.Encoder
	srcAudioCodec relay.Codec
	nalus         [][]byte

	// a stream's AAC becomes Opus through aac (opus.go), while viewers watch
	aac      *transcoder
	aacFails int       // transcoders that failed in a row; at maxAACFails the sound stays off
	watched  time.Time // when the derived stream last had a reader
	checked  time.Time // when that was last looked at
	log      *slog.Logger
}

// maxAACFails is how many transcoders in a row may fail before a feed stops trying.
const maxAACFails = 3

// idleAfter is how long a transcoder runs with nobody watching before it stops.
const idleAfter = 10 * time.Second

func newFeed(src *relay.Stream, tracks []*relay.Track, out *relay.Publisher, log *slog.Logger) (*feed, error) {
	f := &feed{src: src, out: out, log: log.With("path", src.Path()), watched: time.Now()}
	video, audio := relay.FirstTracks(tracks, carries)
	if audio != nil && audio.Codec == relay.CodecAAC {
		if _, err := exec.LookPath("ffmpeg"); err != nil {
			log.Warn("AAC not sent to WebRTC viewers: turning it into Opus needs ffmpeg", "path", src.Path(), "err", err)
			audio = nil
		}
	}
	for _, t := range tracks {
		if t != video && t != audio {
			log.Info("track not sent to WebRTC viewers", "path", src.Path(), "codec", t.Codec)
		}
		if t.Codec.IsVideo() && video == nil && f.noVideo == nil {
			f.noVideo = unsentVideo(t.Codec)
		}
	}
	if video != nil {
		if f.noVideo = refuseVideo(video); f.noVideo != nil {
			log.Info("video not sent to WebRTC viewers", "path", src.Path(), "reason", f.noVideo)
		} else if err := f.setVideo(video); err != nil {
			return nil, err
		}
	}
	if audio != nil {
		enc, err := (&format.Opus{PayloadTyp: ptAudio, ChannelCount: 2}).CreateEncoder()
		if err != nil {
			return nil, fmt.Errorf("webrtc opus packetizer: %w", err)
		}
		f.opus, f.srcAudioCodec = enc, audio.Codec
		f.audio = &relay.Track{Codec: relay.CodecOpus, ClockRate: audioRate, Channels: 2}
	}
	if f.video == nil && f.audio == nil {
		if f.noVideo != nil {
			return nil, f.noVideo
		}
		return nil, fmt.Errorf("webrtc %s: %w: no H.264, H.265, AV1 or VP9 video, Opus or AAC audio", src.Path(), ErrNoCodec)
	}
	f.hasVideo, f.hasAudio = f.video != nil, f.audio != nil
	if f.hasVideo {
		f.videoCodec = f.video.Codec
	}
	return f, nil
}

// carries says which codecs WebRTC viewers get (AAC as Opus). H.265 goes to players that
// offer it (Safari; Chromium with a hardware decoder).
func carries(c relay.Codec) bool {
	switch c {
	case relay.CodecH264, relay.CodecH265, relay.CodecAV1, relay.CodecVP9, relay.CodecOpus, relay.CodecAAC:
		return true
	}
	return false
}

// mimeTypes are the WebRTC names of the codecs viewers get.
var mimeTypes = map[relay.Codec]string{relay.CodecH264: pwebrtc.MimeTypeH264, relay.CodecH265: pwebrtc.MimeTypeH265, relay.CodecAV1: pwebrtc.MimeTypeAV1,
	relay.CodecVP9: pwebrtc.MimeTypeVP9, relay.CodecOpus: pwebrtc.MimeTypeOpus}

// maxPayload bounds a packet's RTP payload: with the RTP header, SRTP's tag and IPv6 and UDP
// headers a packet stays well inside a 1500-byte MTU on any path, as browsers' do.
const maxPayload = 1200

// Playable says why a stream of these tracks cannot play in a browser over WebRTC, or nil:
// its video, if any, must be one the feeds send.
func (s *Server) Playable(tracks []*relay.Track) error {
	video, _ := relay.FirstTracks(tracks, carries)
	for _, t := range tracks {
		if t.Codec.IsVideo() && video == nil {
			return unsentVideo(t.Codec)
		}
	}
	if video != nil {
		return refuseVideo(video)
	}
	return nil
}

func unsentVideo(c relay.Codec) error {
	return fmt.Errorf("%w: the stream's %s video is not sent over WebRTC yet; it plays over LL-HLS and fMP4", ErrNoCodec, c)
}

// refuseVideo says why a video track cannot go to browsers, or nil. Their WebRTC H.264
// decoders take pictures in the order they come and drop those that run back in time: of
// a stream with B-frames Chromium decoded one picture in two, the rest counted as dropped
// (RTP timestamps as PTS or as DTS alike). Such a stream is refused rather than stutter;
// H.265 likewise, and in its Main profile alone (the one the viewers' codec names).
func refuseVideo(t *relay.Track) error {
	var reorders bool
	var err error
	switch t.Codec {
	case relay.CodecH264:
		var c codec.H264Config
		if c, err = codec.ParseH264Config(t.Config); err == nil {
			reorders, err = c.Reorders()
		}
	case relay.CodecH265:
		var c codec.H265Config
		if c, err = codec.ParseH265Config(t.Config); err == nil {
			if c.Profile() != 1 {
				return fmt.Errorf("%w: the stream's H.265 is not in the Main profile, the one sent over WebRTC; it plays over LL-HLS and fMP4", ErrNoCodec)
			}
			reorders, err = c.Reorders()
		}
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("webrtc %s: %w", t.Codec, err)
	}
	if reorders {
		return fmt.Errorf("%w: the stream's %s may have B-frames, which browsers' WebRTC does not play "+
			"(encode without them: x264 bframes=0, OBS \"B-frames\" 0); it plays over LL-HLS and fMP4", ErrNoCodec, t.Codec)
	}
	return nil
}

// setVideo starts packetizing t: at the start, and when a publisher hands over with new
// parameter sets. The codec stays the one viewers negotiated.
func (f *feed) setVideo(t *relay.Track) error {
	if f.video != nil && t.Codec != f.video.Codec {
		return fmt.Errorf("webrtc: the video changed from %s to %s; viewers negotiated the first", f.video.Codec, t.Codec)
	}
	if f.videoEnc == nil {
		enc, err := newVideoEncoder(t.Codec)
		if err != nil {
			return err
		}
		f.videoEnc = enc
	}
	if t.Codec == relay.CodecH264 || t.Codec == relay.CodecH265 {
		p, err := codec.ParseNALConfig(t)
		if err != nil {
			return fmt.Errorf("webrtc %s: %w", t.Codec, err)
		}
		f.params = p
	}
	f.srcVideo = t
	f.video = &relay.Track{Codec: t.Codec, ClockRate: videoRate, Width: t.Width, Height: t.Height, Config: t.Config}
	return nil
}

// videoEncoder packetizes one picture as the relay carries it.
type videoEncoder func(f *feed, payload []byte) ([]*rtp.Packet, error)

func newVideoEncoder(c relay.Codec) (videoEncoder, error) {
	seq, err := randomSeq()
	if err != nil {
		return nil, err
	}
	switch c {
	case relay.CodecH264:
		enc := &rtph264.Encoder{PayloadType: ptVideo, PacketizationMode: 1, PayloadMaxSize: maxPayload, InitialSequenceNumber: &seq}
		if err := enc.Init(); err != nil {
			return nil, fmt.Errorf("webrtc h264 packetizer: %w", err)
		}
		return nalEncoder(enc.Encode), nil
	case relay.CodecH265:
		enc := &rtph265.Encoder{PayloadType: ptVideo, PayloadMaxSize: maxPayload, InitialSequenceNumber: &seq}
		if err := enc.Init(); err != nil {
			return nil, fmt.Errorf("webrtc h265 packetizer: %w", err)
		}
		return nalEncoder(enc.Encode), nil
	case relay.CodecAV1:
		enc := &rtppack.AV1{PayloadType: ptVideo, MaxPayload: maxPayload, Seq: seq}
		return func(_ *feed, payload []byte) ([]*rtp.Packet, error) { return enc.Encode(payload) }, nil
	case relay.CodecVP9:
		enc := &rtpvp9.Encoder{PayloadType: ptVideo, PayloadMaxSize: maxPayload, InitialSequenceNumber: &seq}
		if err := enc.Init(); err != nil {
			return nil, fmt.Errorf("webrtc vp9 packetizer: %w", err)
		}
		return func(_ *feed, payload []byte) ([]*rtp.Packet, error) { return enc.Encode(payload) }, nil
	}
	return nil, fmt.Errorf("webrtc: %w: %s video", ErrNoCodec, c)
}

// handOver takes a new publisher's video track, unless viewers cannot play it (B-frames,
// another codec): then its pictures are not sent (the viewers keep the sound) and it says so
// once.
func (f *feed) handOver(t *relay.Track) bool {
	if t == f.refused {
		return false
	}
	err := refuseVideo(t)
	if err == nil {
		err = f.setVideo(t)
	}
	if err != nil {
		f.refused = t
		f.log.Warn("webrtc: the new publisher's video is not sent", "err", err)
		return false
	}
	return true
}

// nalEncoder packetizes an H.264 or H.265 picture: its NAL units, with the parameter sets
// before a keyframe's.
func nalEncoder(encode func([][]byte) ([]*rtp.Packet, error)) videoEncoder {
	return func(f *feed, payload []byte) ([]*rtp.Packet, error) {
		var err error
		if f.nalus, err = f.params.AccessUnit(f.nalus[:0], payload); err != nil {
			return nil, err
		}
		defer clear(f.nalus)
		return encode(f.nalus)
	}
}

func randomSeq() (uint16, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("webrtc sequence number: %w", err)
	}
	return binary.BigEndian.Uint16(b[:]), nil
}

// Frame packetizes one source frame into one derived frame (relay.Deriver).
func (f *feed) Frame(_ context.Context, fr *relay.Frame) error {
	if err := f.transcoded(); err != nil {
		return err
	}
	if f.opus != nil && f.srcAudioCodec == relay.CodecAAC && fr.Track.Codec == relay.CodecAAC {
		f.transcode(fr)
		return nil
	}
	var (
		pkts []*rtp.Packet
		t    *relay.Track
		err  error
	)
	switch {
	case f.videoEnc != nil && fr.Track.Codec.IsVideo():
		if fr.Track != f.srcVideo && !f.handOver(fr.Track) {
			return nil
		}
		pkts, err = f.videoEnc(f, fr.Payload)
		t = f.video
	case f.opus != nil && fr.Track.Codec == f.srcAudioCodec:
		var p *rtp.Packet
		if p, err = f.opus.Encode(fr.Payload); err == nil {
			pkts = []*rtp.Packet{p}
		}
		t = f.audio
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("webrtc packetize %s: %w", fr.Track.Codec, err)
	}
	return f.write(t, fr, pkts)
}

// write publishes the packets of one frame as one derived frame, marshalled once into a
// payload of their own (relay frames keep theirs).
func (f *feed) write(t *relay.Track, fr *relay.Frame, pkts []*rtp.Packet) error {
	f.noteEpoch(fr.PTS)
	ts := uint32(codec.Ticks(fr.PTS, int64(t.ClockRate)))
	size := 0
	for _, p := range pkts {
		p.Timestamp = ts
		size += 2 + p.MarshalSize()
	}
	h := &f.audioHistory
	if t == f.video {
		h = &f.videoHistory
	}
	payload := make([]byte, size)
	for b := payload; len(pkts) > 0; pkts = pkts[1:] {
		n, err := pkts[0].MarshalTo(b[2:])
		if err != nil {
			return fmt.Errorf("webrtc marshal: %w", err)
		}
		binary.BigEndian.PutUint16(b, uint16(n))
		h.put(pkts[0].SequenceNumber, b[2:2+n:2+n])
		b = b[2+n:]
	}
	key := fr.Key && t == f.video || f.video == nil
	return f.out.WriteFrame(&relay.Frame{Track: t, DTS: fr.DTS, PTS: fr.PTS, Key: key, Payload: payload})
}

func (f *feed) noteEpoch(pts time.Duration) {
	e := time.Now().UnixNano() - int64(pts)
	for {
		old := f.epoch.Load()
		if old != 0 && old <= e || f.epoch.CompareAndSwap(old, e) {
			return
		}
	}
}

// rtpTime is the RTP time, at clock rate rate, of wall time now on the stream's timeline
// (0 before the first frame).
func (f *feed) rtpTime(rate int64, now time.Time) uint32 {
	e := f.epoch.Load()
	if e == 0 {
		return 0
	}
	return uint32(codec.Ticks(time.Duration(now.UnixNano()-e), rate))
}

// Clock rates of the derived tracks.
const (
	videoRate = 90000
	audioRate = 48000
)

// packets calls each for every RTP packet of a derived frame's payload.
func packets(b []byte, each func(pkt []byte) error) error {
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return fmt.Errorf("webrtc: a derived frame cut short")
		}
		if err := each(b[2 : 2+n]); err != nil {
			return err
		}
		b = b[2+n:]
	}
	return nil
}

// transcode hands an AAC frame to the stream's transcoder, starting one when none runs (or
// the frame does not follow the last), unless nobody has watched for idleAfter.
func (f *feed) transcode(fr *relay.Frame) {
	if now := time.Now(); now.Sub(f.checked) >= time.Second {
		f.checked = now
		if f.out.Stream().Stats().Readers > 0 {
			f.watched = now
		}
	}
	if time.Since(f.watched) > idleAfter || f.aacFails >= maxAACFails {
		f.stopTranscoder()
		return
	}
	for try := 0; try < 2; try++ {
		if f.aac == nil {
			t, err := newTranscoder(fr.Track.Config, fr.PTS, f.log)
			if err != nil {
				f.failed(err)
				return
			}
			f.aac = t
		}
		ok, err := f.aac.write(fr.PTS, fr.Payload)
		if err != nil {
			f.failed(err)
			return
		}
		if ok {
			f.aacFails = 0
			return
		}
		f.stopTranscoder() // a gap: start afresh from this frame, in step with the picture
	}
}

func (f *feed) failed(err error) {
	f.aacFails++
	f.stopTranscoder()
	f.log.Warn("webrtc: AAC to Opus failed", "err", err, "tries_left", maxAACFails-f.aacFails)
}

func (f *feed) stopTranscoder() {
	if f.aac != nil {
		f.aac.close()
		f.aac = nil
	}
}

// transcoded publishes the Opus packets the transcoder has made since the last frame.
func (f *feed) transcoded() error {
	if f.aac == nil {
		return nil
	}
	for {
		select {
		case of, ok := <-f.aac.out:
			if !ok {
				return nil
			}
			p, err := f.opus.Encode(of.packet)
			if err != nil {
				return fmt.Errorf("webrtc packetize opus: %w", err)
			}
			if err := f.write(f.audio, &relay.Frame{PTS: of.pts, DTS: of.pts}, []*rtp.Packet{p}); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// End stops the transcoder with the stream (relay.Ender).
func (f *feed) End() { f.stopTranscoder() }
