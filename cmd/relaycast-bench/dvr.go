package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// DVRGroup is what the DVR viewers saw. Each plays a path's DVR window (dvr.m3u8) from its
// own start, the starts spread evenly over -dvr-spread behind live, in real time, fetching a
// segment ahead as a player buffers.
type DVRGroup struct {
	Viewers int `json:"viewers"`
	// KeptUp viewers had every segment before it was due to play.
	KeptUp          int     `json:"kept_up"`
	Failed          int     `json:"failed"`
	FirstSegmentP50 float64 `json:"first_segment_p50_ms"` // from asking for the playlist to the first segment's last byte
	FirstSegmentP99 float64 `json:"first_segment_p99_ms"`
	Segments        int     `json:"segments"` // fetched during the measurement, by all viewers
	SegmentP50      float64 `json:"segment_p50_ms"`
	SegmentP99      float64 `json:"segment_p99_ms"`
	FirstError      string  `json:"first_error,omitempty"`
}

func (g DVRGroup) String() string {
	return fmt.Sprintf("%5d kept-up %5d failed %d  first segment p50/p99 %6.1f/%6.1f ms  segments %d, each p50/p99 %5.1f/%5.1f ms %s",
		g.Viewers, g.KeptUp, g.Failed, g.FirstSegmentP50, g.FirstSegmentP99, g.Segments, g.SegmentP50, g.SegmentP99, g.FirstError)
}

type dvrViewer struct {
	first   time.Duration
	fetches []time.Duration // during the measurement
	late    int             // segments that came after they were due, during the measurement
	err     error
}

// play plays rawURL (dvr.m3u8) from back behind live.
func (v *dvrViewer) play(ctx context.Context, hc *http.Client, rawURL string, back time.Duration, measuring *atomic.Bool) {
	start := time.Now()
	pl, at, err := dvrPlaylist(ctx, hc, rawURL+"?start=-"+strconv.FormatFloat(back.Seconds(), 'f', 0, 64))
	if err != nil {
		v.fail(ctx, err)
		return
	}
	var playing time.Time       // when the first segment began to play
	var due, prev time.Duration // when segment i is due, and i-1 was, from playing
	for i := 0; ; i++ {
		for i >= len(pl.Segments) {
			if pl.Endlist {
				return
			}
			if !sleep(ctx, 2*time.Second) {
				return
			}
			if pl, _, err = dvrPlaylist(ctx, hc, at.String()); err != nil {
				v.fail(ctx, err)
				return
			}
		}
		seg := pl.Segments[i]
		if i > 0 && !sleep(ctx, time.Until(playing.Add(prev))) { // a segment ahead
			return
		}
		u, err := at.Parse(seg.URI)
		if err != nil {
			v.fail(ctx, err)
			return
		}
		asked := time.Now()
		if _, err := httpGet(ctx, hc, u.String()); err != nil {
			v.fail(ctx, err)
			return
		}
		now := time.Now()
		if i == 0 {
			v.first, playing = now.Sub(start), now
		}
		if measuring.Load() {
			v.fetches = append(v.fetches, now.Sub(asked))
			if now.After(playing.Add(due)) {
				v.late++
			}
		}
		prev, due = due, due+seg.Duration
	}
}

func (v *dvrViewer) fail(ctx context.Context, err error) {
	if ctx.Err() == nil {
		v.err = err
	}
}

// dvrPlaylist gets a DVR playlist and the URL it came from, after the redirect to its
// absolute start.
func dvrPlaylist(ctx context.Context, hc *http.Client, rawURL string) (*playlist.Media, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s", rawURL, res.Status)
	}
	var pl playlist.Media
	b, err := io.ReadAll(res.Body)
	if err == nil {
		b = startTag.ReplaceAll(b, nil)
		if !bytes.Contains(b, []byte("#EXTINF")) && !bytes.Contains(b, []byte("#EXT-X-ENDLIST")) {
			// a window that has no whole segment yet (a stream just begun): players reload
			return &pl, res.Request.URL, nil
		}
		err = pl.Unmarshal(b)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", rawURL, err)
	}
	return &pl, res.Request.URL, nil
}

// startTag is cut from playlists before parsing: gohlslib v2.4.3 takes
// EXT-X-START:TIME-OFFSET=0 for a missing offset.
var startTag = regexp.MustCompile(`(?m)^#EXT-X-START:.*\n`)

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func summarizeDVR(viewers []*dvrViewer) *DVRGroup {
	g := &DVRGroup{Viewers: len(viewers)}
	var first, fetches []time.Duration
	for _, v := range viewers {
		switch {
		case v.err != nil:
			g.Failed++
			if g.FirstError == "" {
				g.FirstError = v.err.Error()
			}
		case v.late == 0 && len(v.fetches) > 0:
			g.KeptUp++
		}
		if v.first > 0 {
			first = append(first, v.first)
		}
		fetches = append(fetches, v.fetches...)
	}
	g.Segments = len(fetches)
	g.FirstSegmentP50, g.FirstSegmentP99 = percentileMS(first, 50), percentileMS(first, 99)
	g.SegmentP50, g.SegmentP99 = percentileMS(fetches, 50), percentileMS(fetches, 99)
	return g
}
