package hls

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/relaycast/relaycast/relay"
)

// A stream with renditions (relay.Stream.Renditions) is one HLS presentation: its
// multivariant playlist lists the main stream and each rendition as variants, smallest
// first (by picture, then bandwidth) so a player starts small and climbs. Each comes from that stream's own
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
	running := map[string]bool{}
	for i, pl := range lists {
		running[streams[i].Path()] = pl != nil
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
	for _, rung := range s.rungs(main) {
		if p := main.Path() + relay.RenditionSep + rung.Label; !running[p] {
			out.Variants = append(out.Variants, rungVariant(lists[0].Variants[0], path.Base(p), rung, ts, r.URL.RawQuery))
		}
	}
	slices.SortStableFunc(out.Variants, func(a, b *playlist.MultivariantVariant) int {
		return cmp.Or(cmp.Compare(pixels(a.Resolution), pixels(b.Resolution)), cmp.Compare(a.Bandwidth, b.Bandwidth))
	})
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

// pixels is the area of a RESOLUTION, 0 when unknown.
func pixels(res string) int {
	var w, h int
	if _, err := fmt.Sscanf(res, "%dx%d", &w, &h); err != nil {
		return 0
	}
	return w * h
}

// rungs are main's ladder's rungs (none without a ladder).
func (s *Server) rungs(main *relay.Stream) []Rung {
	if s.ladder == nil || relay.IsRendition(main.Path()) {
		return nil
	}
	return s.ladder(main)
}

// rungVariant is the variant of a rung that does not run yet, from what it will be: the
// top variant's shape, frame rate and sound scaled to the rung's height (as ffmpeg's
// scale=-2:HEIGHT rounds), its bitrate and codec. Its first playlist request starts it.
func rungVariant(top *playlist.MultivariantVariant, name string, rung Rung, ts bool, rawQuery string) *playlist.MultivariantVariant {
	v := &playlist.MultivariantVariant{Bandwidth: rung.Bitrate, FrameRate: top.FrameRate, Audio: top.Audio,
		Codecs: []string{rung.Codecs}}
	for _, c := range top.Codecs {
		if !isVideoCodec(c) {
			v.Codecs = append(v.Codecs, c)
		}
	}
	var w, h int
	if _, err := fmt.Sscanf(top.Resolution, "%dx%d", &w, &h); err == nil && h > 0 {
		v.Resolution = fmt.Sprintf("%dx%d", (rung.Height*w+h)/(2*h)*2, rung.Height)
	}
	media := llVideoPlaylist
	if ts {
		media = tsMediaPlaylist
	}
	v.URI = "../" + name + "/" + media
	if rawQuery != "" {
		v.URI += "?" + rawQuery
	}
	return v
}

// llVideoPlaylist is the media playlist of a stream's video in its LL-HLS muxer (gohlslib
// names a stream after its track's place: the video is the first).
const llVideoPlaylist = "video1_stream.m3u8"

func isVideoCodec(c string) bool {
	for _, p := range []string{"avc1", "avc3", "hvc1", "hev1", "av01", "vp09"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
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

// reports are the rendition reports of the LL-HLS presentation src belongs to, relative to
// src's playlists: the main stream's playlists (its picture, and its sound, which every
// variant shares) and each running rendition's picture, as far as each has parts; none for
// a stream without renditions. A player switching variants asks the new one for its next
// part at once (RFC 8216bis 4.4.5.4).
func (s *Server) reports(src *relay.Stream) []*playlist.MediaRenditionReport {
	main := src.Main()
	renditions := main.Renditions()
	if len(renditions) == 0 {
		return nil
	}
	var out []*playlist.MediaRenditionReport
	for _, st := range append([]*relay.Stream{main}, renditions...) {
		m, ok := s.ll.Running(st)
		if !ok {
			continue
		}
		prefix := ""
		if st != src {
			prefix = "../" + path.Base(st.Path()) + "/"
		}
		out = append(out, m.lib.Reports(prefix, st != main)...)
	}
	return out
}
