// Package vod is stored media: the files and recordings under the media directory, listed,
// uploaded, deleted and served on demand.
package vod

import (
	"fmt"
	"strings"

	"github.com/relaycast/relaycast/relay"
)

// ErrInvalidName marks a media name that is refused before any file system call. It is a
// relay.ErrInvalidPath, and ErrNotFound a relay.ErrNotFound, so the protocol servers answer
// stored media's errors as they answer live paths'.
var ErrInvalidName = fmt.Errorf("invalid media name: %w", relay.ErrInvalidPath)

// ErrNotFound marks a media name with no file.
var ErrNotFound = fmt.Errorf("no such media: %w", relay.ErrNotFound)

const (
	maxSegment  = 128
	maxSegments = 8
)

// Extensions are the file types the library holds, by extension.
var Extensions = []string{".mp4", ".flv"}

// ValidateName checks a media name from the network: a relative path of at most 8 parts
// made of [A-Za-z0-9_.~-], none starting with a dot (so no "..", and no hidden file), such as
// clip or recordings/live/x/2026-12-01_15-04-05 (~: a rendition's recordings/live/x~480p).
// Percent-escapes are decoded by net/http before a name gets here, so %2e%2e arrives as "..".
func ValidateName(name string) error {
	parts := strings.Split(name, "/")
	if len(parts) > maxSegments {
		return fmt.Errorf("%w %q: at most %d parts", ErrInvalidName, name, maxSegments)
	}
	for _, p := range parts {
		if p == "" || p[0] == '.' || len(p) > maxSegment {
			return fmt.Errorf("%w %q: each part has 1 to %d characters and does not start with a dot", ErrInvalidName, name, maxSegment)
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '~') {
				return fmt.Errorf("%w %q: character %q not allowed (use A-Z a-z 0-9 _ . - ~)", ErrInvalidName, name, c)
			}
		}
	}
	return nil
}

// SplitFile splits a file name like clip.mp4 or show.flv into the media name and its
// extension, and validates both.
func SplitFile(file string) (name, ext string, err error) {
	for _, e := range Extensions {
		if n, ok := strings.CutSuffix(file, e); ok {
			return n, e, ValidateName(n)
		}
	}
	return "", "", fmt.Errorf("%w %q: want NAME%s", ErrInvalidName, file, strings.Join(Extensions, " or NAME"))
}

// IsFileName says whether s ends in one of the Extensions (NAME.mp4), as opposed to a media
// name.
func IsFileName(s string) bool {
	for _, e := range Extensions {
		if strings.HasSuffix(s, e) {
			return true
		}
	}
	return false
}

// HLSFile splits a request path under /vod/ like NAME/index.m3u8 or NAME/seg3.ts into the
// media name and the HLS file.
func HLSFile(p string) (name, file string, ok bool) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", "", false
	}
	name, file = p[:i], p[i+1:]
	if file == "index.m3u8" {
		return name, file, true
	}
	n, isSeg := strings.CutPrefix(file, "seg")
	n, isSeg2 := strings.CutSuffix(n, ".ts")
	if !isSeg || !isSeg2 || n == "" || strings.Trim(n, "0123456789") != "" {
		return "", "", false
	}
	return name, file, true
}
