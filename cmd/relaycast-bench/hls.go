package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// HLSGroup is what the LL-HLS clients saw. Lag is how many parts live (a client straight on
// -hls-live) had beyond the newest part of a client's playlist when the client got it.
type HLSGroup struct {
	Clients      int         `json:"clients"`
	KeptUp       int         `json:"kept_up"` // never more than two parts behind
	Failed       int         `json:"failed"`
	FirstPartP50 float64     `json:"first_part_p50_ms"`
	FirstPartP99 float64     `json:"first_part_p99_ms"`
	Playlists    int         `json:"playlists"` // got during the measurement, by all clients
	LivePart     int         `json:"live_parts"`
	LagP50       int         `json:"lag_p50_parts"`
	LagP99       int         `json:"lag_p99_parts"`
	LagMax       int         `json:"lag_max_parts"`
	Lags         map[int]int `json:"lags"` // parts behind: playlists
	FirstError   string      `json:"first_error,omitempty"`
}

func (g HLSGroup) String() string {
	return fmt.Sprintf("%5d kept-up %5d failed %d  first part p50/p99 %6.1f/%6.1f ms  playlists %d  lag p50/p99/max %d/%d/%d parts of %d live %s",
		g.Clients, g.KeptUp, g.Failed, g.FirstPartP50, g.FirstPartP99, g.Playlists, g.LagP50, g.LagP99, g.LagMax, g.LivePart, g.FirstError)
}

// hlsClient plays a stream as an LL-HLS player does: each rendition (video, and the audio
// one a player also loads) it loads once, fetches its last three parts, then asks for each
// next part's version with a blocking request (_HLS_msn, _HLS_part) and fetches the parts
// it has not had. The lag is the video's.
type hlsClient struct {
	firstPart time.Duration
	playlists int
	lags      []int
	mu        sync.Mutex
	err       error
}

// start loads the multivariant playlist at url, then plays its variant (counted from the
// lowest bandwidth, modulo how many there are).
func (c *hlsClient) start(ctx context.Context, hc *http.Client, url string, variant int, live *liveParts, measuring *atomic.Bool) {
	s, err := hlsMedia(ctx, hc, url, variant)
	if err != nil {
		c.fail(err, func() {})
		return
	}
	c.play(ctx, hc, s, live, measuring)
}

func (c *hlsClient) play(ctx context.Context, hc *http.Client, s hlsStream, live *liveParts, measuring *atomic.Bool) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, u := range s.others {
		wg.Go(func() { c.fail(playRendition(ctx, hc, u, nil), cancel) })
	}
	c.fail(playRendition(ctx, hc, s.video, func(pl *playlist.Media, fetched bool) {
		if fetched && c.firstPart == 0 {
			c.firstPart = time.Since(start)
		}
		parts := allParts(pl)
		if fetched || len(parts) == 0 || !measuring.Load() {
			return
		}
		c.playlists++
		if lag, ok := live.behind(parts[len(parts)-1].URI, time.Now()); ok {
			c.lags = append(c.lags, lag)
		}
	}), cancel)
	wg.Wait()
}

// fail keeps a rendition's error, the first, and ends the others.
func (c *hlsClient) fail(err error, cancel context.CancelFunc) {
	if err == nil {
		return
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	cancel()
}

// playRendition plays one media playlist until ctx ends (then it returns nil). seen, when
// set, hears of each playlist, then (fetched true) of the parts of it fetched.
func playRendition(ctx context.Context, hc *http.Client, media *url.URL, seen func(*playlist.Media, bool)) error {
	got := map[string]bool{}
	uri := media
	for ctx.Err() == nil {
		pl, err := getMediaPlaylist(ctx, hc, uri.String())
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if seen != nil {
			seen(pl, false)
		}
		parts := allParts(pl)
		if len(got) == 0 {
			parts = parts[max(0, len(parts)-3):]
		}
		for _, p := range parts {
			if got[p.URI] {
				continue
			}
			pu, err := media.Parse(p.URI)
			if err != nil {
				return err
			}
			if _, err := httpGet(ctx, hc, pu.String()); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			got[p.URI] = true
		}
		if seen != nil && len(parts) > 0 {
			seen(pl, true)
		}
		uri = nextPart(media, pl)
	}
	return nil
}

// nextPart is the blocking request for the part after the newest of pl.
func nextPart(media *url.URL, pl *playlist.Media) *url.URL {
	u := *media
	q := u.Query()
	q.Set("_HLS_msn", strconv.Itoa(pl.MediaSequence+len(pl.Segments)))
	q.Set("_HLS_part", strconv.Itoa(len(pl.Parts)))
	u.RawQuery = q.Encode()
	return &u
}

// liveParts is when each part first showed in a playlist fetched straight from the server.
type liveParts struct {
	mu    sync.Mutex
	index map[string]int
	seen  []time.Time // in playlist order, so never decreasing
}

func (l *liveParts) watch(ctx context.Context, hc *http.Client, media *url.URL) {
	uri := media
	for ctx.Err() == nil {
		pl, err := getMediaPlaylist(ctx, hc, uri.String())
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		now := time.Now()
		l.mu.Lock()
		for _, p := range allParts(pl) {
			if _, ok := l.index[partName(p.URI)]; !ok {
				l.index[partName(p.URI)] = len(l.seen)
				l.seen = append(l.seen, now)
			}
		}
		l.mu.Unlock()
		uri = nextPart(media, pl)
	}
}

// behind is how many parts live had after part at a time.
func (l *liveParts) behind(part string, at time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.index[partName(part)]
	if !ok {
		return 0, false
	}
	later := l.seen[i+1:]
	n, _ := slices.BinarySearchFunc(later, at, func(t, at time.Time) int {
		if t.After(at) {
			return 1
		}
		return -1
	})
	return n, true
}

// partName is a part's URI without its query, which may name the client's session
// (MediaMTX's ?session=).
func partName(uri string) string {
	name, _, _ := strings.Cut(uri, "?")
	return name
}

func (l *liveParts) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func allParts(pl *playlist.Media) []*playlist.MediaPart {
	var parts []*playlist.MediaPart
	for _, s := range pl.Segments {
		parts = append(parts, s.Parts...)
	}
	return append(parts, pl.Parts...)
}

func getMediaPlaylist(ctx context.Context, hc *http.Client, uri string) (*playlist.Media, error) {
	body, err := httpGet(ctx, hc, uri)
	if err != nil {
		return nil, err
	}
	var pl playlist.Media
	if err := pl.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("%s: %w", uri, err)
	}
	return &pl, nil
}

// hlsStream is what a player loads of a stream: its video playlist and the others (audio)
// the variant names.
type hlsStream struct {
	video  *url.URL
	others []*url.URL
}

// hlsMedia reads a multivariant playlist, waiting for the stream to have one: a variant's
// playlist and its audio rendition's.
func hlsMedia(ctx context.Context, hc *http.Client, rawURL string, variant int) (hlsStream, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	base, err := url.Parse(rawURL)
	if err != nil {
		return hlsStream{}, err
	}
	for ctx.Err() == nil {
		var body []byte
		if body, err = httpGet(ctx, hc, rawURL); err == nil {
			var mv playlist.Multivariant
			if err = mv.Unmarshal(body); err == nil && len(mv.Variants) > 0 {
				return streamOf(base, &mv, variant)
			}
			err = fmt.Errorf("%s: no variant in it (%v)", rawURL, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return hlsStream{}, fmt.Errorf("hls: %w", err)
}

func streamOf(base *url.URL, mv *playlist.Multivariant, variant int) (hlsStream, error) {
	vs := slices.Clone(mv.Variants)
	slices.SortStableFunc(vs, func(a, b *playlist.MultivariantVariant) int { return a.Bandwidth - b.Bandwidth })
	v := vs[variant%len(vs)]
	video, err := base.Parse(v.URI)
	if err != nil {
		return hlsStream{}, err
	}
	s := hlsStream{video: video}
	for _, r := range mv.Renditions {
		if r.URI != nil && r.Type == playlist.MultivariantRenditionTypeAudio && r.GroupID == v.Audio {
			u, err := base.Parse(*r.URI)
			if err != nil {
				return hlsStream{}, err
			}
			s.others = append(s.others, u)
		}
	}
	return s, nil
}

func httpGet(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return b, err
}

func summarizeHLS(clients []*hlsClient, live *liveParts) *HLSGroup {
	g := &HLSGroup{Clients: len(clients), Lags: map[int]int{}, LivePart: live.count()}
	var first []time.Duration
	var lags []int
	for _, c := range clients {
		if c.err != nil {
			g.Failed++
			if g.FirstError == "" {
				g.FirstError = c.err.Error()
			}
		}
		if c.firstPart > 0 {
			first = append(first, c.firstPart)
		}
		g.Playlists += c.playlists
		if len(c.lags) > 0 && slices.Max(c.lags) <= 2 && c.err == nil {
			g.KeptUp++
		}
		for _, l := range c.lags {
			g.Lags[l]++
		}
		lags = append(lags, c.lags...)
	}
	g.FirstPartP50, g.FirstPartP99 = percentileMS(first, 50), percentileMS(first, 99)
	if len(lags) > 0 {
		slices.Sort(lags)
		g.LagP50, g.LagP99, g.LagMax = lags[len(lags)/2], lags[min(len(lags)-1, len(lags)*99/100)], lags[len(lags)-1]
	}
	return g
}
