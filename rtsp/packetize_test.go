package rtsp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/relay"
)

// payloadMax is the RTP payload size gortsplib's packetizers fill (1500-byte MTU less
// headers); fragments carry payloadMax-2 bytes of an H.264 NAL unit.
const payloadMax = 1450

// testLengths are every length from 1 to 3 payloads, where fragmenting changes shape.
func testLengths() []int {
	var ls []int
	for n := 1; n <= 3*payloadMax+8; n++ {
		ls = append(ls, n)
	}
	return ls
}

var h264Record = []byte{1, 100, 0, 31, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee}

// nalu makes a non-IDR slice of n bytes whose content tells every byte's position.
func nalu(n int, seed byte) []byte {
	b := make([]byte, n)
	b[0] = 0x41 // nal_ref_idc 2, type 1
	for i := 1; i < n; i++ {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func avcc(nalus ...[]byte) []byte {
	var out []byte
	for _, n := range nalus {
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
	}
	return out
}

// TestH264PacketizerIsByteExactForEveryNALUSize packetizes access units of one and of two NAL
// units of every size up to three packets and back: gortsplib v2.2.2 lost the last fragment
// when the NAL unit filled its fragments exactly, and every viewer saw a broken picture.
func TestH264PacketizerIsByteExactForEveryNALUSize(t *testing.T) {
	vt := &relay.Track{Codec: relay.CodecH264, ClockRate: 90000, Config: h264Record}
	f := &feed{}
	var err error
	if f.video, err = f.newVideo(vt); err != nil {
		t.Fatal(err)
	}
	dec := &rtph264.Decoder{}
	if err := dec.Init(); err != nil {
		t.Fatal(err)
	}
	for _, n := range testLengths() {
		for _, au := range [][][]byte{{nalu(n, 1)}, {nalu(40, 2), nalu(n, 3)}} {
			name := fmt.Sprintf("%d NAL units, last of %d bytes", len(au), n)
			fr := &relay.Frame{Track: vt, PTS: time.Second, Payload: avcc(au...)}
			_, pkts, err := f.packetize(fr)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got := depacketize(t, name, pkts, dec.Decode)
			if len(got) != len(au) {
				t.Fatalf("%s: %d NAL units back, want %d", name, len(got), len(au))
			}
			for i := range au {
				if !bytes.Equal(got[i], au[i]) {
					t.Fatalf("%s: NAL unit %d differs (%d bytes back)", name, i, len(got[i]))
				}
			}
			checkPackets(t, name, pkts, f.video.timestamp(time.Second))
		}
	}
}

func TestAACPacketizerIsByteExactForEveryFrameSize(t *testing.T) {
	at := &relay.Track{Codec: relay.CodecAAC, ClockRate: 44100, Config: []byte{0x12, 0x10}}
	f := &feed{}
	var err error
	if f.audio, err = newAAC(at); err != nil {
		t.Fatal(err)
	}
	dec := &rtpmpeg4audio.Decoder{SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	if err := dec.Init(); err != nil {
		t.Fatal(err)
	}
	for _, n := range testLengths() {
		frame := nalu(n, 5)
		name := fmt.Sprintf("AAC frame of %d bytes", n)
		_, pkts, err := f.packetize(&relay.Frame{Track: at, PTS: 2 * time.Second, Payload: frame})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := depacketize(t, name, pkts, dec.Decode)
		if len(got) != 1 || !bytes.Equal(got[0], frame) {
			t.Fatalf("%s: got %d frames back, not the one sent", name, len(got))
		}
		checkPackets(t, name, pkts, f.audio.timestamp(2*time.Second))
	}
}

// depacketize feeds packets to a decoder, which must return the unit with the last packet
// and nothing before it.
func depacketize(t *testing.T, name string, pkts []*rtp.Packet, decode func(*rtp.Packet) ([][]byte, error)) [][]byte {
	t.Helper()
	var got [][]byte
	for i, p := range pkts {
		// Through the wire format, as a player gets them.
		b, err := p.Marshal()
		if err != nil {
			t.Fatalf("%s: marshal: %v", name, err)
		}
		var q rtp.Packet
		if err := q.Unmarshal(b); err != nil {
			t.Fatalf("%s: unmarshal: %v", name, err)
		}
		if len(q.Payload) > payloadMax {
			t.Fatalf("%s: packet %d carries %d bytes, over %d", name, i, len(q.Payload), payloadMax)
		}
		units, err := decode(&q)
		if i < len(pkts)-1 {
			if len(units) != 0 {
				t.Fatalf("%s: units back before the last packet", name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: depacketize: %v", name, err)
		}
		got = units
	}
	return got
}

// checkPackets: consecutive sequence numbers, one timestamp, the marker on the last only.
func checkPackets(t *testing.T, name string, pkts []*rtp.Packet, ts uint32) {
	t.Helper()
	for i, p := range pkts {
		if p.Timestamp != ts {
			t.Fatalf("%s: packet %d timestamp %d, want %d", name, i, p.Timestamp, ts)
		}
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("%s: sequence %d after %d", name, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if p.Marker != (i == len(pkts)-1) {
			t.Fatalf("%s: packet %d of %d has marker %v", name, i, len(pkts), p.Marker)
		}
	}
}

func TestRTPTimestampsAreExactForLongStreams(t *testing.T) {
	tr := &track{clockRate: 90000, base: 4000000000}
	for _, tc := range []struct {
		pts  time.Duration
		want uint32
	}{
		{0, 4000000000},
		{time.Second, 4000090000},
		{33 * time.Millisecond, 4000002970},
		{100 * time.Hour, uint32((4000000000 + 100*3600*90000) % (1 << 32))},
	} {
		if got := tr.timestamp(tc.pts); got != tc.want {
			t.Errorf("pts %v: %d, want %d", tc.pts, got, tc.want)
		}
	}
}
