package srt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Mode is what an SRT caller asks to do.
type Mode string

// The modes of a stream id.
const (
	Publish Mode = "publish"
	Read    Mode = "read"
)

// StreamID is a parsed SRT stream id.
type StreamID struct {
	Mode  Mode
	Path  string     // live/NAME
	Key   string     // publish or read key; "" when none was given
	Query url.Values // anything after ? in the path (key= is folded into Key)
}

var errStreamID = errors.New("stream id")

// ParseStreamID reads the stream id of a caller in one of the forms relaycast accepts:
//
//	publish:live/NAME[:KEY]          read:live/NAME[:KEY]
//	publish:live/NAME?key=KEY        live/NAME (read)
//	#!::r=live/NAME,m=publish[,s=KEY] (the SRT Access Control form; m defaults to request,
//	                                    which reads)
func ParseStreamID(id string) (StreamID, error) {
	var s StreamID
	if u, err := url.QueryUnescape(id); err == nil && u != id &&
		(strings.HasPrefix(u, "#!::") || strings.HasPrefix(u, "publish:") || strings.HasPrefix(u, "read:")) {
		id = u // a caller that escaped the stream id as a URL query value
	}
	switch {
	case id == "":
		return s, fmt.Errorf("%w: empty: give streamid=publish:live/NAME or streamid=read:live/NAME", errStreamID)
	case strings.HasPrefix(id, "#!::"):
		if err := s.accessControl(id[4:]); err != nil {
			return s, err
		}
	default:
		s.Mode = Read
		rest := id
		if mode, r, ok := strings.Cut(id, ":"); ok && (mode == string(Publish) || mode == string(Read)) {
			s.Mode, rest = Mode(mode), r
		}
		s.Path, s.Key, _ = strings.Cut(rest, ":")
	}
	path, query, _ := strings.Cut(s.Path, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return s, fmt.Errorf("%w %q: query: %v", errStreamID, id, err)
	}
	s.Path, s.Query = strings.Trim(path, "/"), q
	if s.Key == "" {
		s.Key = q.Get("key")
	}
	q.Del("key")
	if s.Path == "" {
		return s, fmt.Errorf("%w %q: no path", errStreamID, id)
	}
	return s, nil
}

// accessControl reads the key=value list of the SRT Access Control form.
func (s *StreamID) accessControl(list string) error {
	s.Mode = Read
	for kv := range strings.SplitSeq(list, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", errStreamID, kv)
		}
		switch strings.TrimSpace(k) {
		case "r":
			s.Path = v
		case "m":
			switch v {
			case "publish":
				s.Mode = Publish
			case "request":
				s.Mode = Read
			default:
				return fmt.Errorf("%w: mode %q: want publish or request", errStreamID, v)
			}
		case "s":
			s.Key = v
		}
	}
	return nil
}
