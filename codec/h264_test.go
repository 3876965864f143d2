package codec

import (
	"encoding/hex"
	"testing"
)

// SPSs x264 writes for 320x240: Baseline, High without B-frames, High with two.
func TestH264ReordersAsTheSPSDeclares(t *testing.T) {
	for _, tc := range []struct {
		name, sps string
		want      bool
	}{
		{"baseline", "6742c00dd90141fb0110000003001000000303c0f142a480", false},
		{"high, bframes=0", "6764000dacb20283f60220000003002000000781e28549", false},
		{"high, bframes=2", "6764000dacd94141fb0110000003001000000303c0f1429960", true},
	} {
		sps, _ := hex.DecodeString(tc.sps)
		got, err := H264Config{SPS: [][]byte{sps}}.Reorders()
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := (H264Config{SPS: [][]byte{{0x67, 0x64}}}).Reorders(); err == nil {
		t.Error("a cut SPS read")
	}
}
