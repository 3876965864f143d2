package relay

import (
	"fmt"
	"strings"
)

// MaxNameLen bounds each segment of a stream path.
const MaxNameLen = 128

// ValidatePath checks that path is "APP/NAME" with both parts made of [A-Za-z0-9_.-], so a
// path taken from the network is safe to log, to put in a URL and to use as a map key.
func ValidatePath(path string) error {
	app, name, ok := strings.Cut(path, "/")
	if !ok {
		return fmt.Errorf("%w %q: want APP/NAME", ErrInvalidPath, path)
	}
	for _, seg := range [...]string{app, name} {
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
