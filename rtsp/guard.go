package rtsp

import (
	"bytes"
	"errors"
	"strconv"
)

// errBadRequest is a request the server refuses to hand to gortsplib.
var errBadRequest = errors.New("rtsp: malformed request")

// maxHeaderLine bounds one request or header line, as gortsplib does for the whole request.
const maxHeaderLine = 8 << 10

// requestGuard follows what a client sends (requests, their bodies, and interleaved frames)
// and stops header values that send gortsplib v2.2.2's key=value parser into an endless loop:
// an element that starts with '=' (e.g. "Transport: RTP/AVP;=x"). That parser reads the
// Transport, Session, Range and Authorization headers of every request, before any handler
// of ours runs, so one such line would spin a CPU for ever.
type requestGuard struct {
	line     []byte // the line being gathered
	skip     int    // body or interleaved payload bytes still to pass
	inter    int    // interleaved header bytes still expected ('$', channel, length)
	interLen [2]byte
	inHeader bool // between a request line and the empty line that ends its headers
	bodyLen  int  // Content-Length of the request being read
}

func (g *requestGuard) feed(p []byte) error {
	for len(p) > 0 {
		switch {
		case g.skip > 0:
			n := min(g.skip, len(p))
			g.skip -= n
			p = p[n:]
		case g.inter > 0:
			if g.inter <= 2 {
				g.interLen[2-g.inter] = p[0]
			}
			g.inter--
			p = p[1:]
			if g.inter == 0 {
				g.skip = int(g.interLen[0])<<8 | int(g.interLen[1])
			}
		case !g.inHeader && len(g.line) == 0 && p[0] == '$':
			g.inter = 3 // channel and a 16-bit length follow
			p = p[1:]
		default:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				g.line = append(g.line, p...)
				p = nil
			} else {
				g.line = append(g.line, p[:i]...)
				p = p[i+1:]
				if err := g.endLine(bytes.TrimRight(g.line, "\r")); err != nil {
					return err
				}
				g.line = g.line[:0]
			}
			if len(g.line) > maxHeaderLine {
				return errBadRequest
			}
		}
	}
	return nil
}

func (g *requestGuard) endLine(line []byte) error {
	if !g.inHeader {
		if len(line) > 0 {
			g.inHeader, g.bodyLen = true, 0
		}
		return nil
	}
	if len(line) == 0 { // end of headers: the body follows
		g.inHeader, g.skip = false, g.bodyLen
		return nil
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return nil // gortsplib refuses it itself
	}
	name, value = bytes.TrimSpace(name), bytes.TrimSpace(value)
	switch string(bytes.ToLower(name)) {
	case "content-length":
		n, err := strconv.Atoi(string(value))
		if err != nil || n < 0 || n > 1<<20 {
			return errBadRequest
		}
		g.bodyLen = n
	case "transport", "session", "range", "rtp-info":
		return checkKeyVals(value, ';')
	case "authorization", "www-authenticate":
		if _, rest, ok := bytes.Cut(value, []byte(" ")); ok {
			return checkKeyVals(rest, ',')
		}
	}
	return nil
}

// checkKeyVals runs gortsplib's key=value parsing loop as it is written and refuses the
// value if an iteration would consume nothing: there the library would loop for ever.
func checkKeyVals(v []byte, sep byte) error {
	str := string(v)
	for len(str) > 0 {
		before := len(str)
		i := 0 // readKey
		for i < len(str) && str[i] != '=' && str[i] != sep {
			i++
		}
		key := str[:i]
		str = str[i:]
		if key != "" && len(str) > 0 && str[0] == '=' {
			str = str[1:] // readValue
			if len(str) > 0 && str[0] == '"' {
				end := 1
				for end < len(str) && str[end] != '"' {
					end++
				}
				if end >= len(str) {
					return nil // unclosed quote: the library returns an error
				}
				str = str[end+1:]
			} else {
				j := 0
				for j < len(str) && str[j] != sep {
					j++
				}
				str = str[j:]
			}
		}
		if len(str) > 0 && str[0] == sep {
			str = str[1:]
		}
		for len(str) > 0 && str[0] == ' ' {
			str = str[1:]
		}
		if len(str) == before {
			return errBadRequest
		}
	}
	return nil
}
