package rtmp

import (
	"encoding/binary"
	"fmt"
)

// maxAMFDepth bounds how deep objects and arrays may nest in a command.
const maxAMFDepth = 32

// checkAMF0 walks a sequence of AMF0 values without decoding them and refuses what would make
// go-amf0 misbehave: it allocates a strict array's declared length up front (a few bytes can
// ask for gigabytes) and decodes nesting recursively.
func checkAMF0(b []byte) error {
	for len(b) > 0 {
		var err error
		if b, err = skipAMF0(b, 0); err != nil {
			return err
		}
	}
	return nil
}

func skipAMF0(b []byte, depth int) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: AMF value cut short", errGuard)
	}
	if depth > maxAMFDepth {
		return nil, fmt.Errorf("%w: AMF nested deeper than %d", errGuard, maxAMFDepth)
	}
	marker, b := b[0], b[1:]
	switch marker {
	case 0x00: // number
		return skipN(b, 8)
	case 0x01: // boolean
		return skipN(b, 1)
	case 0x02: // string
		return skipString16(b)
	case 0x03: // object
		return skipProperties(b, depth)
	case 0x05, 0x06, 0x0d: // null, undefined, unsupported
		return b, nil
	case 0x07: // reference
		return skipN(b, 2)
	case 0x08: // ECMA array: a count (a hint only), then properties
		b, err := skipN(b, 4)
		if err != nil {
			return nil, err
		}
		return skipProperties(b, depth)
	case 0x0a: // strict array
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: AMF array cut short", errGuard)
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) { // every element takes at least a byte
			return nil, fmt.Errorf("%w: AMF array of %d elements in %d bytes", errGuard, n, len(b))
		}
		for range n {
			var err error
			if b, err = skipAMF0(b, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case 0x0b: // date
		return skipN(b, 10)
	case 0x0c, 0x0f: // long string, XML document
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: AMF string cut short", errGuard)
		}
		return skipN(b[4:], int(binary.BigEndian.Uint32(b)))
	case 0x10: // typed object: class name, then properties
		b, err := skipString16(b)
		if err != nil {
			return nil, err
		}
		return skipProperties(b, depth)
	default:
		return nil, fmt.Errorf("%w: AMF marker 0x%02x", errGuard, marker)
	}
}

// skipProperties skips name/value pairs up to the object end (an empty name, then 0x09).
func skipProperties(b []byte, depth int) ([]byte, error) {
	for {
		if len(b) >= 3 && b[0] == 0 && b[1] == 0 && b[2] == 0x09 {
			return b[3:], nil
		}
		var err error
		if b, err = skipString16(b); err != nil {
			return nil, err
		}
		if b, err = skipAMF0(b, depth+1); err != nil {
			return nil, err
		}
	}
}

func skipString16(b []byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: AMF string cut short", errGuard)
	}
	return skipN(b[2:], int(binary.BigEndian.Uint16(b)))
}

func skipN(b []byte, n int) ([]byte, error) {
	if n < 0 || len(b) < n {
		return nil, fmt.Errorf("%w: AMF value cut short", errGuard)
	}
	return b[n:], nil
}

// commandName is the name a checked AMF0 command starts with, or "" if it starts otherwise.
func commandName(b []byte) string {
	if len(b) < 3 || b[0] != 0x02 {
		return ""
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	if len(b) < 3+n {
		return ""
	}
	return string(b[3 : 3+n])
}
