package hls

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"path"
	"slices"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/relaycast/relaycast/relay"
)

// A stream with renditions (relay.Stream.Renditions) is one HLS presentation: its
// multivariant playlist lists the main stream and each rendition as variants, lowest
// bandwidth first so a player starts small and climbs. Each comes from that stream's own
// muxer (started by the playlist's first request), at ../NAME~LABEL/ beside the main one's.
// In LL-HLS the variants share the main stream's sound as one audio rendition group; in the
// MPEG-TS variant each carries its own, as MPEG-TS muxes both.

// variantWait bounds the wait for a rendition's first segment; one that has none by then is
// left out of that answer.
const variantWait = 6 * time.Second

// serveMaster answers index.m3u8 or ts.m3u8 of main, which has renditions.
func (s *Server) serveMaster(w http.ResponseWriter, r *http.Request, main *relay.Stream, outputs *relay.Outputs[*muxer], ts bool) error {
	streams := append([]*relay.Stream{main}, main.Renditions()...)
	muxers := make([]*muxer, len(streams))
	for i, st := range streams {
		m, err := outputs.Get(r.Context(), st)
		if err != nil {
			if i == 0 {
				return err
			}
			s.log.Warn("hls: rendition left out", "path", st.Path(), "err", err)
			continue
		}
		muxers[i] = m
	}
	ctx, cancel := context.WithTimeout(r.Context(), variantWait)
	defer cancel()
	lists := multivariants(ctx, muxers, r.URL.RawQuery)
	if lists[0] == nil {
		return fmt.Errorf("hls: %s has no segment yet", main.Path())
	}
	out := &playlist.Multivariant{Version: lists[0].Version, IndependentSegments: true}
	if !ts {
		out.Renditions = lists[0].Renditions // the main stream's sound, for every variant
	}
	for i, pl := range lists {
		if pl == nil || len(pl.Variants) == 0 {
			continue
		}
		v := pl.Variants[0]
		if i > 0 {
			v.URI = "../" + path.Base(streams[i].Path()) + "/" + v.URI
		}
		if ts || len(out.Renditions) == 0 {
			v.Audio = ""
		}
		out.Variants = append(out.Variants, v)
	}
	slices.SortStableFunc(out.Variants, func(a, b *playlist.MultivariantVariant) int { return cmp.Compare(a.Bandwidth, b.Bandwidth) })
	body, err := out.Marshal()
	if err != nil {
		return fmt.Errorf("hls: %w", err)
	}
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	// as gohlslib's own: renditions come and go, and bandwidths are measured
	w.Header().Set("Cache-Control", "public, max-age=30")
	_, _ = w.Write(body)
	return nil
}

// multivariants asks each muxer (nil: none) for its multivariant playlist at once, and
// gives up on those without one when ctx ends; a muxer that answers later, or closes,
// lets its goroutine go.
func multivariants(ctx context.Context, muxers []*muxer, rawQuery string) []*playlist.Multivariant {
	type answer struct {
		i  int
		pl *playlist.Multivariant
	}
	ch := make(chan answer, len(muxers))
	n := 0
	for i, m := range muxers {
		if m == nil {
			continue
		}
		n++
		go func() {
			pl, err := m.lib.Multivariant(rawQuery)
			if err != nil {
				pl = nil
			}
			ch <- answer{i, pl}
		}()
	}
	out := make([]*playlist.Multivariant, len(muxers))
	for ; n > 0; n-- {
		select {
		case a := <-ch:
			out[a.i] = a.pl
		case <-ctx.Done():
			return out
		}
	}
	return out
}
