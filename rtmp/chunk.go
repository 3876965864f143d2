package rtmp

import (
	"encoding/binary"
	"net"
)

// Chunk stream ids for what we write ourselves (players' media, notices). They stay clear of
// the ids go-rtmp answers on (2 and those clients send commands on: 3-8 in ffmpeg, librtmp and
// OBS), because header compression state is kept per chunk stream id.
const (
	csidCommand = 20
	csidAudio   = 21
	csidVideo   = 22
)

// RTMP message type ids.
const (
	typeUserControl = 4
	typeAudio       = 8
	typeVideo       = 9
	typeDataAMF0    = 18
	typeCommandAMF0 = 20
)

const extendedTimestamp = 0xffffff

// chunker frames messages into chunks for one connection and collects them into one vectored
// write. Each message starts with a full (type 0) header, so its bytes never depend on what
// went before on its chunk stream; continuation chunks are type 3. Payloads are referenced,
// never copied: only headers (and the few FLV tag header bytes) go through hdr.
type chunker struct {
	chunkSize int
	hdr       []byte   // header bytes of the pending messages
	parts     []part   // the pending write, in order, as spans of hdr or of payloads
	vec       [][]byte // reused backing array for net.Buffers
	size      int      // bytes pending
}

// part is a span of hdr (payload nil) or a whole payload slice.
type part struct {
	payload    []byte
	start, end int
}

// Steady state a player's write holds a video frame and an audio frame or two; joining on the
// GOP cache or catching up needs far more. Buffers grown past these are let go after the
// write, so thousands of players do not each keep the largest batch they ever sent.
const (
	keepHdr   = 512
	keepParts = 32
)

func newChunker(chunkSize int) *chunker {
	return &chunker{chunkSize: chunkSize}
}

// add queues one message: prefix (up to a few bytes, copied) followed by payload (referenced).
func (c *chunker) add(csid byte, typ byte, streamID uint32, ts uint32, prefix, payload []byte) {
	length := len(prefix) + len(payload)
	payload0 := payload
	ext := ts >= extendedTimestamp
	first := len(c.hdr)
	start := first
	c.hdr = append(c.hdr, csid&0x3f) // fmt 0
	tsField := ts
	if ext {
		tsField = extendedTimestamp
	}
	c.hdr = append(c.hdr, byte(tsField>>16), byte(tsField>>8), byte(tsField),
		byte(length>>16), byte(length>>8), byte(length), typ)
	c.hdr = binary.LittleEndian.AppendUint32(c.hdr, streamID)
	if ext {
		c.hdr = binary.BigEndian.AppendUint32(c.hdr, ts)
	}
	c.hdr = append(c.hdr, prefix...)
	room := c.chunkSize - len(prefix)
	for {
		n := min(room, len(payload))
		c.parts = append(c.parts, part{start: start, end: len(c.hdr)})
		if n > 0 {
			c.parts = append(c.parts, part{payload: payload[:n]})
		}
		payload = payload[n:]
		if len(payload) == 0 {
			break
		}
		start = len(c.hdr)
		c.hdr = append(c.hdr, 0xc0|csid&0x3f) // fmt 3
		if ext {
			c.hdr = binary.BigEndian.AppendUint32(c.hdr, ts)
		}
		room = c.chunkSize
	}
	c.size += len(c.hdr) - first + len(payload0)
}

// buffers returns the pending write. hdr is complete by now, so its spans stay valid.
func (c *chunker) buffers() net.Buffers {
	c.vec = c.vec[:0]
	for _, p := range c.parts {
		if p.payload != nil {
			c.vec = append(c.vec, p.payload)
		} else {
			c.vec = append(c.vec, c.hdr[p.start:p.end])
		}
	}
	return net.Buffers(c.vec)
}

func (c *chunker) reset() {
	c.hdr, c.parts, c.size = c.hdr[:0], c.parts[:0], 0
	clear(c.vec[:cap(c.vec)]) // drop payload references so frames can be freed
	if cap(c.hdr) > keepHdr {
		c.hdr = nil
	}
	if cap(c.parts) > keepParts {
		c.parts, c.vec = nil, nil
	}
}

func (c *chunker) pending() int { return c.size }
