package rtmp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// RTMP message types the player handles.
const (
	msgSetChunkSize = 1
	msgUserControl  = 4
	msgAudio        = 8
	msgVideo        = 9
	msgDataAMF0     = 18
	msgCommandAMF0  = 20
)

// maxMessage bounds a message the player accepts: the server's own limit for a frame.
const maxMessage = 8 << 20

// chunkReader reassembles the messages of a server's chunk stream. It keeps each chunk
// stream's last header for the compressed header types and one growing buffer per chunk
// stream, so reading a message does not allocate once the buffers have grown.
type chunkReader struct {
	r         *bufio.Reader
	chunkSize uint32
	streams   map[uint32]*inStream
	hdr       [11]byte
}

// inStream is the state of one chunk stream id.
type inStream struct {
	ts, delta  uint32
	length     uint32
	typ        byte
	streamID   uint32
	extended   bool // the last header carried an extended timestamp
	body       []byte
	inProgress bool
}

// inMessage is one reassembled message; body is valid until the next call to next.
type inMessage struct {
	typ      byte
	ts       uint32
	streamID uint32
	body     []byte
}

func newChunkReader(r *bufio.Reader) *chunkReader {
	return &chunkReader{r: r, chunkSize: 128, streams: map[uint32]*inStream{}}
}

// next returns the next complete message. SetChunkSize is applied here and returned too.
func (c *chunkReader) next() (inMessage, error) {
	for {
		s, err := c.chunk()
		if err != nil {
			return inMessage{}, err
		}
		if s.inProgress {
			continue
		}
		m := inMessage{typ: s.typ, ts: s.ts, streamID: s.streamID, body: s.body}
		if m.typ == msgSetChunkSize && len(m.body) >= 4 {
			size := binary.BigEndian.Uint32(m.body) & 0x7fffffff
			if size == 0 {
				return inMessage{}, fmt.Errorf("rtmp: server set chunk size 0")
			}
			c.chunkSize = size
		}
		return m, nil
	}
}

// chunk reads one chunk into its stream and returns the stream.
func (c *chunkReader) chunk() (*inStream, error) {
	b0, err := c.r.ReadByte()
	if err != nil {
		return nil, err
	}
	fmtType, csid := b0>>6, uint32(b0&0x3f)
	switch csid {
	case 0:
		b, err := c.r.ReadByte()
		if err != nil {
			return nil, err
		}
		csid = 64 + uint32(b)
	case 1:
		if _, err := io.ReadFull(c.r, c.hdr[:2]); err != nil {
			return nil, err
		}
		csid = 64 + uint32(c.hdr[0]) + uint32(c.hdr[1])<<8
	}
	s := c.streams[csid]
	if s == nil {
		if fmtType != 0 {
			return nil, fmt.Errorf("rtmp: chunk stream %d starts with a type %d header", csid, fmtType)
		}
		s = &inStream{}
		c.streams[csid] = s
	}
	if err := c.header(s, fmtType); err != nil {
		return nil, err
	}
	if !s.inProgress {
		if s.length > maxMessage {
			return nil, fmt.Errorf("rtmp: message of %d bytes", s.length)
		}
		s.body, s.inProgress = s.body[:0], true
	}
	n := min(c.chunkSize, s.length-uint32(len(s.body)))
	start := len(s.body)
	s.body = append(s.body, make([]byte, n)...) // grows in place; no temporary
	if _, err := io.ReadFull(c.r, s.body[start:]); err != nil {
		return nil, err
	}
	s.inProgress = uint32(len(s.body)) < s.length
	return s, nil
}

// header reads the message header of a chunk of the given type into s.
func (c *chunkReader) header(s *inStream, fmtType byte) error {
	size := [4]int{11, 7, 3, 0}[fmtType]
	if _, err := io.ReadFull(c.r, c.hdr[:size]); err != nil {
		return err
	}
	field := uint32(0)
	if size > 0 {
		field = uint32(c.hdr[0])<<16 | uint32(c.hdr[1])<<8 | uint32(c.hdr[2])
		s.extended = field == 0xffffff
	}
	if s.extended {
		if _, err := io.ReadFull(c.r, c.hdr[:4]); err != nil {
			return err
		}
		if size > 0 {
			field = binary.BigEndian.Uint32(c.hdr[:4])
		}
	}
	if size >= 7 {
		s.length = uint32(c.hdr[3])<<16 | uint32(c.hdr[4])<<8 | uint32(c.hdr[5])
		s.typ = c.hdr[6]
	}
	if size == 11 {
		s.streamID = binary.LittleEndian.Uint32(c.hdr[7:11])
	}
	if s.inProgress {
		return nil // a continuation: the timestamp is the message's
	}
	switch fmtType {
	case 0:
		s.ts, s.delta = field, 0
	case 1, 2:
		s.delta = field
		s.ts += field
	case 3:
		s.ts += s.delta
	}
	return nil
}
