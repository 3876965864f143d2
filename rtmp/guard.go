package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// handshakeBytes is what a client sends before its first chunk: C0+C1, then C2.
const handshakeBytes = 1 + 1536 + 1536

// Limits bound what a peer may make the server hold for it.
type Limits struct {
	// MaxChunkSize is the largest chunk size a peer may announce.
	MaxChunkSize uint32
	// MaxMediaMessage bounds an audio or video message (a frame); MaxOtherMessage every other
	// one (commands, metadata, control), which also bounds how deep AMF can nest.
	MaxMediaMessage, MaxOtherMessage uint32
	// MaxChunkStreams bounds the chunk streams a peer may use at once.
	MaxChunkStreams int
}

// DefaultLimits are generous for real encoders and players.
func DefaultLimits() Limits {
	return Limits{MaxChunkSize: 1 << 20, MaxMediaMessage: 8 << 20, MaxOtherMessage: 64 << 10, MaxChunkStreams: 32}
}

var errGuard = errors.New("rtmp: peer broke a limit")

// guard follows the chunk stream a peer sends, without keeping any payload, to refuse what
// go-rtmp would take without bound or would choke on: oversized messages (go-rtmp buffers a
// whole message, and decodes AMF recursively), absurd chunk sizes, zero-length messages, too
// many chunk streams. It must parse exactly as go-rtmp does, so it mirrors its quirks (no
// extended timestamp on type 3 chunks).
type guard struct {
	lim       Limits
	skip      int    // handshake bytes still to come
	chunkSize uint32 // the peer's, as announced by SetChunkSize
	hdr       [18]byte
	hdrLen    int // bytes of the current chunk header gathered so far
	payload   int // payload bytes of the current chunk still to come
	cur       *chunkStream
	streams   map[int]*chunkStream
	// onCommand, if set, hears each command message the peer completes (its name and its
	// checked AMF0 body, valid during the call); once go-rtmp has let go of a player,
	// nobody else reads them.
	onCommand func(name string, body []byte)
}

type chunkStream struct {
	length, received uint32
	typ              byte
	inProgress       bool
	setChunk         [4]byte // payload of a SetChunkSize message
	amf              []byte  // body of a command or data message, checked when complete
}

func newGuard(lim Limits) *guard {
	return &guard{lim: lim, skip: handshakeBytes, chunkSize: 128, streams: make(map[int]*chunkStream)}
}

// feed checks the next bytes the peer sent.
func (g *guard) feed(p []byte) error {
	for len(p) > 0 {
		switch {
		case g.skip > 0:
			n := min(g.skip, len(p))
			g.skip -= n
			p = p[n:]
		case g.payload > 0:
			n := min(g.payload, len(p))
			g.takePayload(p[:n])
			p = p[n:]
			if g.payload == 0 {
				if err := g.endChunk(); err != nil {
					return err
				}
			}
		default:
			g.hdr[g.hdrLen] = p[0]
			g.hdrLen++
			p = p[1:]
			if g.hdrLen == g.headerLen() {
				if err := g.startChunk(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// headerLen is the length of the chunk header being gathered, as far as it is known.
func (g *guard) headerLen() int {
	basic := 1
	switch g.hdr[0] & 0x3f {
	case 0:
		basic = 2
	case 1:
		basic = 3
	}
	n := basic + [4]int{11, 7, 3, 0}[g.hdr[0]>>6]
	if g.hdr[0]>>6 < 3 && g.hdrLen >= basic+3 {
		if ts := g.hdr[basic : basic+3]; ts[0] == 0xff && ts[1] == 0xff && ts[2] == 0xff {
			n += 4 // extended timestamp
		}
	}
	return n
}

func (g *guard) startChunk() error {
	h := g.hdr[:g.hdrLen]
	g.hdrLen = 0
	csid, basic := int(h[0]&0x3f), 1
	switch csid {
	case 0:
		csid, basic = int(h[1])+64, 2
	case 1:
		csid, basic = int(h[2])*256+int(h[1])+64, 3
	}
	cs, ok := g.streams[csid]
	if !ok {
		if len(g.streams) >= g.lim.MaxChunkStreams {
			return fmt.Errorf("%w: more than %d chunk streams", errGuard, g.lim.MaxChunkStreams)
		}
		cs = &chunkStream{}
		g.streams[csid] = cs
	}
	if !cs.inProgress {
		cs.received = 0
	}
	if f := h[0] >> 6; f <= 1 {
		m := h[basic:]
		cs.length = uint32(m[3])<<16 | uint32(m[4])<<8 | uint32(m[5])
		cs.typ = m[6]
	}
	if cs.length == 0 || cs.length <= cs.received {
		return fmt.Errorf("%w: message of %d bytes on chunk stream %d", errGuard, cs.length, csid)
	}
	if max := g.maxMessage(cs.typ); cs.length > max {
		return fmt.Errorf("%w: message type %d of %d bytes (limit %d)", errGuard, cs.typ, cs.length, max)
	}
	if cs.typ == typeAggregate {
		return fmt.Errorf("%w: aggregate messages are not supported", errGuard)
	}
	cs.inProgress = true
	g.cur = cs
	g.payload = int(min(cs.length-cs.received, g.chunkSize))
	return nil
}

const (
	typeSetChunkSize = 1
	typeAggregate    = 22
)

// isAMF0Message reports whether go-rtmp decodes the message body as AMF0 values.
func isAMF0Message(typ byte) bool { return typ == typeDataAMF0 || typ == typeCommandAMF0 }

func (g *guard) maxMessage(typ byte) uint32 {
	if typ == typeAudio || typ == typeVideo {
		return g.lim.MaxMediaMessage
	}
	return g.lim.MaxOtherMessage
}

func (g *guard) takePayload(b []byte) {
	cs := g.cur
	switch {
	case cs.typ == typeSetChunkSize:
		for _, c := range b {
			if cs.received < 4 {
				cs.setChunk[cs.received] = c
			}
			cs.received++
		}
	case isAMF0Message(cs.typ):
		cs.amf = append(cs.amf, b...)
		cs.received += uint32(len(b))
	default:
		cs.received += uint32(len(b))
	}
	g.payload -= len(b)
}

func (g *guard) endChunk() error {
	cs := g.cur
	if cs.received < cs.length {
		return nil // the message continues in a later chunk
	}
	cs.inProgress = false
	if isAMF0Message(cs.typ) {
		err := checkAMF0(cs.amf)
		if err == nil && cs.typ == typeCommandAMF0 && g.onCommand != nil {
			g.onCommand(commandName(cs.amf), cs.amf)
		}
		cs.amf = cs.amf[:0]
		if err != nil {
			return err
		}
	}
	if cs.typ == typeSetChunkSize {
		size := binary.BigEndian.Uint32(cs.setChunk[:]) & 0x7fffffff
		if size < 1 || size > g.lim.MaxChunkSize {
			return fmt.Errorf("%w: chunk size %d (allowed 1 to %d)", errGuard, size, g.lim.MaxChunkSize)
		}
		g.chunkSize = size
	}
	return nil
}
