package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
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

// hlsClient plays a media playlist as an LL-HLS player does: it loads it once, fetches the
// last three parts, then asks for each next part's version with a blocking request
// (_HLS_msn, _HLS_part) and fetches the parts it has not had.
type hlsClient struct {
	firstPart time.Duration
	playlists int
	lags      []int
	err       error
}

func (c *hlsClient) play(ctx context.Context, hc *http.Client, base, media string, live *liveParts, measuring *atomic.Bool) {
	start := time.Now()
	got := map[string]bool{}
	uri := base + media
	for ctx.Err() == nil {
		pl, err := getMediaPlaylist(ctx, hc, uri)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.err = err
			return
		}
		parts := allParts(pl)
		if len(parts) > 0 && measuring.Load() {
			c.playlists++
			if lag, ok := live.behind(parts[len(parts)-1].URI, time.Now()); ok {
				c.lags = append(c.lags, lag)
			}
		}
		if len(got) == 0 {
			parts = parts[max(0, len(parts)-3):]
		}
		for _, p := range parts {
			if got[p.URI] {
				continue
			}
			if _, err := httpGet(ctx, hc, base+p.URI); err != nil {
				if ctx.Err() == nil {
					c.err = err
				}
				return
			}
			got[p.URI] = true
			if c.firstPart == 0 {
				c.firstPart = time.Since(start)
			}
		}
		uri = fmt.Sprintf("%s%s?_HLS_msn=%d&_HLS_part=%d", base, media, pl.MediaSequence+len(pl.Segments), len(pl.Parts))
	}
}

// liveParts is when each part first showed in a playlist fetched straight from the server.
type liveParts struct {
	mu    sync.Mutex
	index map[string]int
	seen  []time.Time // in playlist order, so never decreasing
}

func (l *liveParts) watch(ctx context.Context, hc *http.Client, base, media string) {
	uri := base + media
	for ctx.Err() == nil {
		pl, err := getMediaPlaylist(ctx, hc, uri)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		now := time.Now()
		l.mu.Lock()
		for _, p := range allParts(pl) {
			if _, ok := l.index[p.URI]; !ok {
				l.index[p.URI] = len(l.seen)
				l.seen = append(l.seen, now)
			}
		}
		l.mu.Unlock()
		uri = fmt.Sprintf("%s%s?_HLS_msn=%d&_HLS_part=%d", base, media, pl.MediaSequence+len(pl.Segments), len(pl.Parts))
	}
}

// behind is how many parts live had after part at a time.
func (l *liveParts) behind(part string, at time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.index[part]
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

// hlsMedia finds the media playlist of a multivariant playlist URL, waiting for the stream
// to have one: it returns the URL's directory and the media playlist's name.
func hlsMedia(ctx context.Context, hc *http.Client, rawURL string) (string, string, error) {
	base := rawURL[:strings.LastIndexByte(rawURL, '/')+1]
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		var body []byte
		if body, err = httpGet(ctx, hc, rawURL); err == nil {
			for line := range strings.Lines(string(body)) {
				if line = strings.TrimSpace(line); strings.HasSuffix(line, ".m3u8") {
					return base, line, nil
				}
			}
			err = fmt.Errorf("%s: no media playlist in it", rawURL)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", "", fmt.Errorf("hls: %w", err)
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
