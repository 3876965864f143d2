package relay

import (
	"fmt"
	"strings"
)

// MaxNameLen bounds each segment of a stream path.
const MaxNameLen = 128

// reservedApps are first URL segments the HTTP server keeps for itself, so that every stream
// path any protocol accepts also has its page at http://HOST/APP/NAME; vod/ names stored
// media on every protocol.
var reservedApps = [...]string{"api", "static", "debug", "vod"}

// ValidatePath is the one rule for stream names on every protocol: path is "APP/NAME", or
// "APP/NAME~LABEL" for a rendition, with each part made of [A-Za-z0-9_.-], and APP is not
// one the HTTP server keeps for itself. A path taken from the network is then safe to log,
// to put in a URL and to use as a map key.
func ValidatePath(path string) error {
	app, name, ok := strings.Cut(path, "/")
	if !ok {
		return fmt.Errorf("%w %q: want APP/NAME", ErrInvalidPath, path)
	}
	for _, r := range reservedApps {
		if app == r {
			return fmt.Errorf("%w %q: %q is reserved (the web server's own pages, stored media)", ErrInvalidPath, path, app)
		}
	}
	name, label, rendition := strings.Cut(name, RenditionSep)
	segs := []string{app, name}
	if rendition {
		segs = append(segs, label)
	}
	for _, seg := range segs {
		if err := validateSegment(seg); err != nil {
			return fmt.Errorf("%w %q: %v", ErrInvalidPath, path, err)
		}
	}
	return nil
}

func validateSegment(s string) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("each part must have 1 to %d characters", MaxNameLen)
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%q is not a name", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("character %q not allowed (use A-Z a-z 0-9 _ . -)", c)
		}
	}
	return nil
}
