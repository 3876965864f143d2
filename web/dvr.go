package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/relaycast/relaycast/playback"
	"github.com/relaycast/relaycast/record"
	"github.com/relaycast/relaycast/vod"
)

// dvr serves the window a path keeps behind live (dvr.m3u8): an HLS EVENT playlist of its
// recordings from a start within the window up to the newest whole segment, growing while
// the stream is recorded and ended (EXT-X-ENDLIST) once it is not, when the window plays on
// as stored video. The start comes as ?start= (RFC 3339 or -SECONDS, within the window) or
// is the window's beginning; a playlist asked for without an absolute one is sent, by a
// redirect, to the URL with it, so its reloads and segments are cut from the same keyframe.
type dvr struct {
	rec     Recorder
	files   playback.Files
	window  func(path string) time.Duration
	numbers *playback.Numbers // of the growing playlists' segments
}

// ServeMedia answers dvr.m3u8, or dvr/segN.ts (the request's "seg").
func (d dvr) ServeMedia(w http.ResponseWriter, r *http.Request, path string) error {
	win := d.window(path)
	if win <= 0 {
		http.Error(w, path+" keeps no DVR window (dvr: in the configuration)", http.StatusNotFound)
		return nil
	}
	now := time.Now()
	q := r.URL.Query()
	raw := q.Get("start")
	from := now.Add(-win)
	if raw != "" {
		var err error
		if from, err = parseStart(raw, now); err != nil {
			http.Error(w, "start: "+err.Error(), http.StatusBadRequest)
			return nil
		}
		from = later(from, now.Add(-win))
	}
	seg := r.PathValue("seg")
	mp4 := strings.HasSuffix(r.URL.Path, "/dvr.mp4")
	if _, err := time.Parse(time.RFC3339Nano, raw); seg == "" && (err != nil || mp4 && q.Get("duration") == "") {
		q.Set("start", from.UTC().Format(time.RFC3339Nano))
		if mp4 && q.Get("duration") == "" {
			// fixed, and behind what the recorder may still hold back, so that the file is
			// laid out the same for every range request of it
			q.Set("duration", strconv.FormatFloat(max(time.Second, now.Sub(from)-mp4Behind).Seconds(), 'f', 3, 64))
		}
		http.Redirect(w, r, r.URL.Path+"?"+q.Encode(), http.StatusFound)
		return nil
	}
	if mp4 {
		return d.serveMP4(w, r, path, from, q.Get("duration"))
	}
	spans, err := d.rec.Spans(path)
	if err != nil {
		return err
	}
	if seg != "" {
		// a viewer's segment is of the window (a minute's grace for one that just left it):
		// recordings further back are the control API's
		return serveSegment(w, d.files, since(spans, now.Add(-win-time.Minute)), q.Get("at"))
	}
	growing := len(spans) > 0 && spans[len(spans)-1].Open
	plan, err := playback.PlanHLS(d.files, spans, from, now.Sub(from)+time.Minute)
	if errors.Is(err, playback.ErrNothing) {
		http.Error(w, "nothing of "+path+" recorded since "+from.UTC().Format(time.RFC3339), http.StatusNotFound)
		return nil
	}
	if err != nil {
		return err
	}
	if growing {
		plan.Segments = plan.Segments[:len(plan.Segments)-1] // the newest one still grows
	}
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "no-cache")
	first := 0
	if growing {
		first = d.numbers.First(path+"@"+raw, plan.Segments)
	}
	_, err = io.WriteString(w, plan.Playlist(segmentURI("dvr/", r.URL.RawQuery), growing, first))
	return err
}

// segmentURI names a range's segments: the number for the eye, the reference (the file and
// the span in it) for the server, after the range's own query (a read key).
func segmentURI(dir, query string) func(n int, s playback.Segment) string {
	if query != "" {
		query += "&"
	}
	return func(n int, s playback.Segment) string {
		return dir + vod.HLSSegmentFile(n) + "?" + query + "at=" + url.QueryEscape(s.Ref())
	}
}

// serveSegment answers a range's segment by its reference (?at=), reading its file alone.
func serveSegment(w http.ResponseWriter, files playback.Files, spans []record.Span, ref string) error {
	s, err := playback.ParseRef(spans, ref)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil
	}
	b, err := playback.TS(files, s)
	if errors.Is(err, playback.ErrNoSegment) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "video/mp2t")
	w.Header().Set("Cache-Control", "public, max-age=3600") // a whole segment never changes
	_, err = w.Write(b)
	return err
}

// mp4Behind is how far behind now a window's MP4 ends: the recorder writes a fragment about
// every second, and a file must not grow between two range requests of it.
const mp4Behind = 3 * time.Second

// serveMP4 answers dvr.mp4: the window from start for duration as one MP4, which a video
// element plays and seeks in by byte ranges.
func (d dvr) serveMP4(w http.ResponseWriter, r *http.Request, path string, from time.Time, length string) error {
	dur, err := parseLength(length)
	if err != nil {
		http.Error(w, "duration: "+err.Error(), http.StatusBadRequest)
		return nil
	}
	spans, err := d.rec.Spans(path)
	if err != nil {
		return err
	}
	clip, err := playback.Make(d.files, spans, from, dur)
	if errors.Is(err, playback.ErrNothing) {
		http.Error(w, "nothing of "+path+" recorded then", http.StatusNotFound)
		return nil
	}
	if err != nil {
		return err
	}
	defer clip.Close()
	body, _, err := clip.MP4()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("X-Relaycast-Start", clip.Start.UTC().Format(time.RFC3339Nano))
	w.Header().Set("Access-Control-Expose-Headers", "X-Relaycast-Start")
	http.ServeContent(w, r, "dvr.mp4", time.Time{}, body)
	return nil
}

// since are the spans that end after t.
func since(spans []record.Span, t time.Time) []record.Span {
	k := 0
	for k < len(spans) && !spans[k].End().After(t) {
		k++
	}
	return spans[k:]
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
