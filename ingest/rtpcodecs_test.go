package ingest_test

import (
	"encoding/binary"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/testkit/mediatest"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtsp"
)

// codecRTP packetizes the first frames of the H.265+AAC, AV1+Opus and VP9+Opus clips as the
// RTSP server does: the medias, and one fuzz seed per clip (packets as FuzzRTPPackets has
// them, each with the index of its media among all).
func codecRTP(t testing.TB) ([]*description.Media, [][]byte) {
	t.Helper()
	clips := [][]*relay.Frame{testenv.HEVCFrames(t)}
	for _, file := range []string{mediatest.SampleAV1(), mediatest.SampleVP9()} {
		fs, err := mediatest.FMP4Frames(file)
		if err != nil {
			t.Fatal(err)
		}
		clips = append(clips, fs)
	}
	var medias []*description.Media
	var seeds [][]byte
	for _, fs := range clips {
		fs = fs[:min(12, len(fs))] // small inputs: the fuzzer minimizes every new one
		var tracks []*relay.Track
		for _, f := range fs {
			if len(tracks) < 2 && (len(tracks) == 0 || tracks[0].Codec.IsVideo() != f.Track.Codec.IsVideo()) {
				tracks = append(tracks, f.Track)
			}
		}
		pk, desc, err := rtsp.NewPacketizer(tracks)
		if err != nil {
			t.Fatal(err)
		}
		base := len(medias)
		medias = append(medias, desc.Medias...)
		var seed []byte
		for _, f := range fs {
			m, pkts, err := pk.Packetize(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pkts {
				b, err := p.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				i := base
				for j, dm := range desc.Medias {
					if dm == m {
						i += j
					}
				}
				seed = binary.BigEndian.AppendUint16(seed, uint16(len(b)+1))
				seed = append(seed, byte(i))
				seed = append(seed, b...)
			}
		}
		seeds = append(seeds, seed)
	}
	return medias, seeds
}

// FuzzRTPCodecs feeds RTP packets of every codec an RTSP publisher may send but H.264 and
// AAC (FuzzRTPPackets has those) to their depacketizers: no input may panic them.
func FuzzRTPCodecs(f *testing.F) {
	medias, seeds := codecRTP(f)
	for _, s := range seeds {
		f.Add(s)
		f.Add(s[:len(s)/3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out frames
		var ms []ingest.RTPMedia
		for _, m := range medias {
			if x, err := ingest.NewRTPMedia(m.Formats[0], &out); err == nil {
				ms = append(ms, x)
			}
		}
		eachPacket(data, func(sel byte, pkt *rtp.Packet) {
			_ = ms[int(sel)%len(ms)].Packet(pkt, int64(pkt.Timestamp))
		})
	})
}

// The seeds depacketize into frames of every codec, so the fuzzer starts from real input.
func TestRTPCodecSeedsDepacketize(t *testing.T) {
	medias, seeds := codecRTP(t)
	var out frames
	ms := make([]ingest.RTPMedia, len(medias))
	for i, m := range medias {
		x, err := ingest.NewRTPMedia(m.Formats[0], &out)
		if err != nil {
			t.Fatalf("%s: %v", m.Formats[0].Codec(), err)
		}
		ms[i] = x
	}
	for _, data := range seeds {
		eachPacket(data, func(sel byte, pkt *rtp.Packet) {
			if err := ms[sel].Packet(pkt, int64(pkt.Timestamp)); err != nil {
				t.Fatal(err)
			}
		})
	}
	got := map[relay.Codec]int{}
	for _, f := range out.got {
		got[f.Track.Codec]++
	}
	for _, c := range []relay.Codec{relay.CodecH265, relay.CodecAAC, relay.CodecAV1, relay.CodecVP9, relay.CodecOpus} {
		if got[c] == 0 {
			t.Errorf("no %s frame from the seeds: %v", c, got)
		}
	}
}
