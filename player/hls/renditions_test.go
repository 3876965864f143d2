package hls_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// Each LL-HLS media playlist of a stream with renditions reports where every other playlist
// of the presentation ends (EXT-X-RENDITION-REPORT: the other variants' pictures and the
// shared sound), at URIs that resolve from it, so a player switching variants asks the new
// one for its next part at once: that blocking request is answered within a part or two,
// not after a whole playlist round trip.
func TestLLHLSPlaylistsReportTheOtherRenditions(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) { c.HLSSessions = false }})
	testenv.PublishLadder(t, srv, "live/abr")
	base, err := url.Parse(srv.HTTPURL("/live/abr/index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(u *url.URL) []byte {
		res, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s\n%s", u, res.Status, b)
		}
		return b
	}
	pl, err := playlist.Unmarshal(get(base))
	if err != nil {
		t.Fatal(err)
	}
	mv := pl.(*playlist.Multivariant)
	var playlists []*url.URL // every media playlist of the presentation
	for _, v := range mv.Variants {
		u, _ := base.Parse(v.URI)
		playlists = append(playlists, u)
	}
	for _, r := range mv.Renditions {
		if r.URI != nil {
			u, _ := base.Parse(*r.URI)
			playlists = append(playlists, u)
		}
	}
	if len(playlists) != 4 {
		t.Fatalf("%d media playlists, want 3 variants and the sound", len(playlists))
	}
	time.Sleep(3 * time.Second) // every variant has parts
	for _, p := range playlists {
		media, err := playlist.Unmarshal(get(p))
		if err != nil {
			t.Fatal(err)
		}
		reports := media.(*playlist.Media).RenditionReport
		if len(reports) != 3 {
			t.Errorf("%s reports %d playlists, want the other 3", p.Path, len(reports))
			continue
		}
		for _, r := range reports {
			other, err := p.Parse(r.URI)
			if err != nil || other.Path == p.Path || !contains(playlists, other.Path) {
				t.Errorf("%s reports %q, which is no other playlist of the presentation", p.Path, r.URI)
				continue
			}
			// the next part, as a switching player asks for it
			q := other.Query()
			q.Set("_HLS_msn", fmt.Sprint(r.LastMSN))
			q.Set("_HLS_part", fmt.Sprint(*r.LastPart+1))
			other.RawQuery = q.Encode()
			start := time.Now()
			next, err := playlist.Unmarshal(get(other))
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if took > 700*time.Millisecond {
				t.Errorf("%s: the part after the reported one came %v later", other.Path, took)
			}
			if m := next.(*playlist.Media); m.MediaSequence+len(m.Segments) < r.LastMSN {
				t.Errorf("%s reports MSN %d of %s, which lists up to %d", p.Path, r.LastMSN, other.Path, m.MediaSequence+len(m.Segments))
			}
		}
	}
}

func contains(list []*url.URL, path string) bool {
	for _, u := range list {
		if u.Path == path {
			return true
		}
	}
	return false
}
