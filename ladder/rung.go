// Package ladder makes renditions of a live stream whose encoder sends one: each rung of a
// path's ladder ("480p@1200k") is an ffmpeg process that reads the stream's pictures and
// encodes them smaller, with keyframes where the source has them, into the rendition
// APP/NAME~480p. A rung runs while someone watches it (it is a relay.Sourcer), so nothing
// is transcoded for a stream nobody watches below its top.
package ladder

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Rung is one rendition of a ladder: a picture height and a video bitrate.
type Rung struct {
	Height int // lines; the width follows the source's shape
	Kbps   int
}

// Label names the rung's rendition: "480p".
func (r Rung) Label() string { return strconv.Itoa(r.Height) + "p" }

func (r Rung) String() string { return fmt.Sprintf("%dp@%dk", r.Height, r.Kbps) }

// ParseRung reads "480p@1200k" (or "480p@1.2M").
func ParseRung(s string) (Rung, error) {
	h, b, ok := strings.Cut(strings.TrimSpace(s), "@")
	if !ok {
		return Rung{}, fmt.Errorf("rung %q: want HEIGHTp@BITRATEk, e.g. 480p@1200k", s)
	}
	height, err := strconv.Atoi(strings.TrimSuffix(h, "p"))
	if err != nil || !strings.HasSuffix(h, "p") || height < 64 || height > 4320 || height%2 != 0 {
		return Rung{}, fmt.Errorf("rung %q: height %q: want an even number of lines from 64 to 4320 and p, e.g. 480p", s, h)
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(b, "k"):
		b = strings.TrimSuffix(b, "k")
	case strings.HasSuffix(b, "M"):
		b, mult = strings.TrimSuffix(b, "M"), 1000
	default:
		return Rung{}, fmt.Errorf("rung %q: bitrate %q: want kbit/s with k or Mbit/s with M, e.g. 1200k", s, b)
	}
	v, err := strconv.ParseFloat(b, 64)
	kbps := int(v * mult)
	if err != nil || kbps < 50 || kbps > 100_000 {
		return Rung{}, fmt.Errorf("rung %q: bitrate from 50k to 100M", s)
	}
	return Rung{Height: height, Kbps: kbps}, nil
}

// ParseLadder reads a path's rungs, highest first; two of one height are an error.
func ParseLadder(list []string) ([]Rung, error) {
	var out []Rung
	for _, s := range list {
		r, err := ParseRung(s)
		if err != nil {
			return nil, err
		}
		for _, o := range out {
			if o.Height == r.Height {
				return nil, fmt.Errorf("rung %q: a second rung of %d lines", s, r.Height)
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Rung) int { return b.Height - a.Height })
	return out, nil
}
