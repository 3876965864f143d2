package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// pictureKey names a video frame by its last NAL unit (the slice), which is the same bytes
// whether it travels in FLV or RTP: RTP timestamps start at random and cannot be matched to
// what the publisher sent, nor can RTMP timestamps that a server (an edge) rebased. Its
// length and first bytes, the slice header and the start of the coded data, tell the
// pictures of a clip apart without hashing every byte for every viewer.
func pictureKey(nalu []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(nalu))))
	_, _ = h.Write(nalu[:min(len(nalu), 256)])
	return h.Sum64()
}

// lastAVCCNALU returns the last NAL unit of a length-prefixed (AVCC) access unit.
func lastAVCCNALU(b []byte) []byte {
	var last []byte
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b))
		if n > len(b)-4 {
			return last
		}
		last, b = b[4:4+n], b[4+n:]
	}
	return last
}

// playRTSP reads the stream over RTSP with RTP interleaved in the TCP connection, and
// measures what the RTMP players measure: time to the first IDR picture, pictures received,
// and the delay of each picture since the publisher sent it.
func (v *viewer) playRTSP(ctx context.Context, rawURL string, clk *clock, measuring *atomic.Bool) {
	start := time.Now()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		v.err = err
		return
	}
	tcp := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		v.err = err
		return
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		v.err = err
		return
	}
	var h264 *format.H264
	medi := desc.FindFormat(&h264)
	if medi == nil {
		v.err = errors.New("no H.264 track in the SDP")
		return
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		v.err = err
		return
	}
	dec, err := h264.CreateDecoder()
	if err != nil {
		v.err = err
		return
	}
	c.OnPacketRTP(medi, h264, func(pkt *rtp.Packet) {
		nalus, err := dec.Decode(pkt)
		if err != nil || len(nalus) == 0 {
			return
		}
		now := time.Now()
		if v.ttff == 0 {
			if !hasIDR(nalus) {
				return
			}
			v.ttff = now.Sub(start)
		}
		if !measuring.Load() {
			return
		}
		v.frames.Add(1)
		if sent, ok := clk.pictureAt(pictureKey(nalus[len(nalus)-1])); ok && len(v.delays) < 4096 {
			v.delays = append(v.delays, now.Sub(sent))
		}
	})
	if _, err := c.Play(nil); err != nil {
		v.err = fmt.Errorf("play: %w", err)
		return
	}
	<-ctx.Done()
}

func hasIDR(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}
