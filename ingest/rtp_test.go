package ingest_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/relay"
)

type frames struct{ got []*relay.Frame }

func (c *frames) WriteFrame(f *relay.Frame) error { c.got = append(c.got, f); return nil }
func (c *frames) SetMetadata([]byte)              {}

// demoRTP packetizes the demo clip as ffmpeg's RTSP muxer would (gortsplib's encoders): the
// formats of its SDP, and each frame's packets with its PTS in the format's clock.
type rtpPacket struct {
	video bool
	pkt   *rtp.Packet
	pts   int64
}

func demoRTP(t testing.TB, max int) (*format.H264, *format.MPEG4Audio, []rtpPacket, []*relay.Frame) {
	t.Helper()
	demo, err := mediatest.DemoFrames()
	if err != nil {
		t.Fatal(err)
	}
	demo = demo[:min(max, len(demo))]
	var h *format.H264
	var a *format.MPEG4Audio
	for _, f := range demo {
		switch {
		case f.Track.Codec == relay.CodecH264 && h == nil:
			cfg, err := codec.ParseH264Config(f.Track.Config)
			if err != nil {
				t.Fatal(err)
			}
			h = &format.H264{PayloadTyp: 96, SPS: cfg.SPS[0], PPS: cfg.PPS[0], PacketizationMode: 1}
		case f.Track.Codec == relay.CodecAAC && a == nil:
			var asc mpeg4audio.AudioSpecificConfig
			if err := asc.Unmarshal(f.Track.Config); err != nil {
				t.Fatal(err)
			}
			a = &format.MPEG4Audio{PayloadTyp: 97, Config: &asc, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		}
	}
	henc, err := h.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	aenc, err := a.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := codec.ParseH264Config(demo[0].Track.Config)
	var out []rtpPacket
	for _, f := range demo {
		var pkts []*rtp.Packet
		var pts int64
		if f.Track.Codec == relay.CodecH264 {
			au, err := cfg.AccessUnit(nil, f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			pkts, err = henc.Encode(au)
			if err != nil {
				t.Fatal(err)
			}
			pts = codec.Ticks(f.PTS, 90000)
		} else {
			pkts, err = aenc.Encode([][]byte{f.Payload})
			if err != nil {
				t.Fatal(err)
			}
			pts = codec.Ticks(f.PTS, int64(a.ClockRate()))
		}
		for _, p := range pkts {
			p.Timestamp = uint32(pts) // as a sender's clock would, from 0
			out = append(out, rtpPacket{f.Track.Codec == relay.CodecH264, p, pts})
		}
	}
	return h, a, out, demo
}

// The demo clip, packetized as an RTSP publisher sends it, comes out as the frames it went in
// as: every picture and audio frame, keyframes where they were, PTS to the clock's
// precision, and a DTS that increases and never passes the PTS (B-frames).
func TestRTPDepacketizesTheDemoClip(t *testing.T) {
	h, a, pkts, demo := demoRTP(t, 1<<20)
	var out frames
	vm, err := ingest.NewRTPMedia(h, &out)
	if err != nil {
		t.Fatal(err)
	}
	am, err := ingest.NewRTPMedia(a, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		m := am
		if p.video {
			m = vm
		}
		if err := m.Packet(p.pkt, p.pts); err != nil {
			t.Fatal(err)
		}
	}
	sameFrames(t, demo, out.got)
}

// A sender probing the bandwidth (Chromium's WebRTC without RTX) sends padding-only packets
// in its media's sequence between pictures: they are no loss, and every picture comes
// through (before, each made the next pictures wait for a keyframe).
func TestRTPPaddingPacketsAreNoLoss(t *testing.T) {
	h, _, pkts, demo := demoRTP(t, 1<<20)
	var out frames
	vm, err := ingest.NewRTPMedia(h, &out)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint16
	var video []*relay.Frame
	for _, f := range demo {
		if f.Track.Codec == relay.CodecH264 {
			video = append(video, f)
		}
	}
	for i, p := range pkts {
		if !p.video {
			continue
		}
		p.pkt.SequenceNumber = seq
		seq++
		if err := vm.Packet(p.pkt, p.pts); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 && p.pkt.Marker { // padding after the picture, as a probe
			pad := &rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PayloadType: 96, SequenceNumber: seq,
				Timestamp: p.pkt.Timestamp, SSRC: p.pkt.SSRC}, PaddingSize: 255}
			seq++
			if err := vm.Packet(pad, p.pts); err != nil {
				t.Fatal(err)
			}
		}
	}
	sameFrames(t, video, out.got)
}

// sameFrames checks that got are the frames of demo: every picture and audio frame,
// keyframes where they were, PTS within a millisecond, and a DTS that increases and never
// passes the PTS (B-frames).
func sameFrames(t *testing.T, demo, gotFrames []*relay.Frame) {
	t.Helper()
	var in, got [2][]*relay.Frame
	for _, f := range demo {
		in[b2i(f.Track.Codec.IsVideo())] = append(in[b2i(f.Track.Codec.IsVideo())], f)
	}
	for _, f := range gotFrames {
		got[b2i(f.Track.Codec.IsVideo())] = append(got[b2i(f.Track.Codec.IsVideo())], f)
	}
	for k, name := range []string{"audio", "video"} {
		if len(got[k]) != len(in[k]) {
			t.Fatalf("%s: %d frames out of %d in", name, len(got[k]), len(in[k]))
		}
		for i := range in[k] {
			w, g := in[k][i], got[k][i]
			if d := g.PTS - w.PTS; d < -time.Millisecond || d > time.Millisecond || g.Key != w.Key && k == 1 {
				t.Fatalf("%s frame %d: PTS %v key %v, want %v %v", name, i, g.PTS, g.Key, w.PTS, w.Key)
			}
			if g.DTS > g.PTS || i > 0 && g.DTS <= got[k][i-1].DTS {
				t.Fatalf("%s frame %d: DTS %v (PTS %v, previous DTS %v)", name, i, g.DTS, g.PTS, got[k][max(0, i-1)].DTS)
			}
		}
	}
	if w, hgt := got[1][0].Track.Width, got[1][0].Track.Height; w != 1280 || hgt != 720 {
		t.Errorf("video track %dx%d, want 1280x720", w, hgt)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A lost packet costs the pictures up to the next keyframe, not a broken one.
func TestRTPLossWaitsForTheNextKeyframe(t *testing.T) {
	h, _, pkts, _ := demoRTP(t, 200)
	var out frames
	vm, _ := ingest.NewRTPMedia(h, &out)
	lost := false
	for i, p := range pkts {
		if !p.video {
			continue
		}
		if i > 40 && !lost && p.pkt.Marker == false { // a fragment in the middle of a picture
			lost = true
			continue
		}
		_ = vm.Packet(p.pkt, p.pts)
	}
	if !lost {
		t.Fatal("no packet dropped")
	}
	seenKey := 0
	for i, f := range out.got {
		if f.Key {
			seenKey++
		}
		if i > 0 && f.DTS <= out.got[i-1].DTS {
			t.Fatalf("frame %d out of order after the loss", i)
		}
	}
	if seenKey < 2 {
		t.Fatalf("%d keyframes after the loss, want the restart at the next one", seenKey)
	}
}

// FuzzRTPPackets feeds any packets to the H.264 and AAC depacketizers: they may refuse them,
// never panic. Input: packets, each with a 2-byte length and a leading byte that picks the
// media (odd: video).
func FuzzRTPPackets(f *testing.F) {
	h, a, pkts, _ := demoRTP(f, 40)
	var seed []byte
	for _, p := range pkts {
		b, err := p.pkt.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		seed = binary.BigEndian.AppendUint16(seed, uint16(len(b)+1))
		seed = append(seed, byte(b2i(p.video)))
		seed = append(seed, b...)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/3])
	f.Fuzz(func(t *testing.T, data []byte) {
		var out frames
		vm, _ := ingest.NewRTPMedia(h, &out)
		am, _ := ingest.NewRTPMedia(a, &out)
		eachPacket(data, func(sel byte, pkt *rtp.Packet) {
			m := am
			if sel&1 == 1 {
				m = vm
			}
			_ = m.Packet(pkt, int64(pkt.Timestamp))
		})
	})
}

// eachPacket reads the fuzz targets' input: packets, each as a 16-bit length (of what
// follows), a byte choosing the media, and the RTP packet; one that does not parse is
// skipped, and a length past the end stops the reading.
func eachPacket(data []byte, fn func(sel byte, pkt *rtp.Packet)) {
	for len(data) >= 3 {
		n := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		if n == 0 || n > len(data) {
			return
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(data[1:n]) == nil {
			fn(data[0], &pkt)
		}
		data = data[n:]
	}
}

// A lost packet breaks the picture it belonged to, whatever it held: a fragment, a picture's
// last packet (the marker: the depacketizer then runs into the next picture), or a picture's
// first. Every picture handed out is then one sent whole (the bytes that went in), and none
// comes between the loss and the next keyframe: players have nothing to conceal.
func TestRTPLossHandsOutWholePicturesOnly(t *testing.T) {
	h, _, pkts, demo := demoRTP(t, 400)
	sent := map[time.Duration][]byte{}
	for _, f := range demo {
		if f.Track.Codec.IsVideo() {
			sent[f.PTS.Round(time.Millisecond)] = f.Payload
		}
	}
	for name, lose := range map[string]func(prev, p *rtp.Packet) bool{
		"a fragment":        func(prev, p *rtp.Packet) bool { return !p.Marker && !prev.Marker },
		"a picture's last":  func(prev, p *rtp.Packet) bool { return p.Marker && !prev.Marker },
		"a picture's first": func(prev, p *rtp.Packet) bool { return prev.Marker && !p.Marker },
	} {
		t.Run(name, func(t *testing.T) {
			var out frames
			vm, _ := ingest.NewRTPMedia(h, &out)
			var prev *rtp.Packet
			lostAt := -1
			for i, p := range pkts {
				if !p.video {
					continue
				}
				if lostAt < 0 && i > 60 && prev != nil && lose(prev, p.pkt) {
					lostAt = len(out.got)
					prev = p.pkt
					continue
				}
				prev = p.pkt
				_ = vm.Packet(p.pkt, p.pts)
			}
			if lostAt < 0 {
				t.Fatal("no packet of the kind to lose")
			}
			for i, f := range out.got {
				if want, ok := sent[f.PTS.Round(time.Millisecond)]; !ok || !bytes.Equal(f.Payload, want) {
					t.Fatalf("picture %d (PTS %v, key %v) is not one that was sent", i, f.PTS, f.Key)
				}
			}
			if lostAt >= len(out.got) || !out.got[lostAt].Key {
				t.Fatalf("after the loss came a picture that is no keyframe (or none: %d of %d)", lostAt, len(out.got))
			}
		})
	}
}
