package rtppack

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpav1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

	"github.com/relaycast/relaycast/codec"
)

// Temporal units of OBUs of every size around a packet's room come back from gortsplib's
// depacketizer OBU for OBU; the case gortsplib's own packetizer gets wrong (an OBU that ends
// with two bytes left, too few to start the next) among them.
// maxPayload is RTSP's payload size, gortsplib's default.
const maxPayload = 1450

func TestAV1PacketizerRoundTrips(t *testing.T) {
	dec, err := (&format.AV1{PayloadTyp: 96}).CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	obu := func(n int, fill byte) []byte {
		b := bytes.Repeat([]byte{fill}, n)
		b[0] = 6 << 3 // OBU_FRAME
		return b
	}
	p := &AV1{PayloadType: 96, MaxPayload: maxPayload}
	for _, tu := range [][][]byte{
		{obu(16460, 1), obu(9582, 2), obu(1093, 3), obu(811, 4), obu(778, 5)}, // as SVT-AV1 made one
		{obu(1, 5)}, {obu(1446, 6), obu(2, 7)}, {obu(1447, 8), obu(1, 9)}, {obu(1449, 10)}, {obu(1450, 11), obu(1448, 12), obu(3000, 13)},
	} {
		for shift := range 6 {
			if shift > 0 {
				tu = append([][]byte{obu(shift, 20)}, tu...)
			}
			payload, err := av1.Bitstream(tu).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			pkts, err := p.Encode(payload)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			for _, pkt := range pkts {
				if len(pkt.Payload) > maxPayload {
					t.Fatalf("payload of %d bytes", len(pkt.Payload))
				}
				got, err = dec.Decode(pkt)
				if err != nil && !errors.Is(err, rtpav1.ErrMorePacketsNeeded) {
					t.Fatal(err)
				}
			}
			want, _ := codec.AV1Units(payload)
			if len(got) != len(want) {
				t.Fatalf("%d OBUs back of %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("OBU %d of %d bytes came back as %d", i, len(want[i]), len(got[i]))
				}
			}
		}
	}
}
