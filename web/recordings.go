package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relaycast/relaycast/playback"
	"github.com/relaycast/relaycast/record"
	"github.com/relaycast/relaycast/relay"
)

// gapAtLeast is how long a hole between two recording files must be to be told as a gap: a
// new file starts at the keyframe after the last one's end, a frame or so later.
const gapAtLeast = time.Second

type spanJSON struct {
	File     string    `json:"file"`
	URL      string    `json:"url"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration_seconds"`
	Bytes    int64     `json:"bytes"`
	Writing  bool      `json:"writing,omitempty"`
}

type gapJSON struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration_seconds"`
}

// serveRecordings lists a path's recording files on the wall clock (UTC), and the gaps
// between them, from the recorder's book: no directory is read.
func (s *Server) serveRecordings(w http.ResponseWriter, r *http.Request) {
	path := r.PathValue("path")
	if p, ok := strings.CutSuffix(path, "/playback"); ok {
		s.servePlayback(w, r, p, "")
		return
	}
	if rest, seg, ok := strings.Cut(path, "/playback/"); ok {
		s.servePlayback(w, r, rest, seg)
		return
	}
	if !s.recorderFor(w, path) {
		return
	}
	spans, err := s.control.Recorder.Spans(path)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if len(spans) == 0 {
		jsonError(w, http.StatusNotFound, "no recordings of "+path)
		return
	}
	out := struct {
		Path     string     `json:"path"`
		Segments []spanJSON `json:"segments"`
		Gaps     []gapJSON  `json:"gaps"`
	}{Path: path, Segments: []spanJSON{}, Gaps: []gapJSON{}}
	for i, sp := range spans {
		out.Segments = append(out.Segments, spanJSON{File: sp.File, URL: "/vod/" + sp.File, Start: sp.Start.UTC(),
			End: sp.End().UTC(), Duration: sp.Duration.Seconds(), Bytes: sp.Bytes, Writing: sp.Open})
		if i > 0 {
			if end := spans[i-1].End(); sp.Start.Sub(end) >= gapAtLeast {
				out.Gaps = append(out.Gaps, gapJSON{Start: end.UTC(), End: sp.Start.UTC(), Duration: sp.Start.Sub(end).Seconds()})
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// servePlayback serves a time range of a path's recordings as one MP4 (byte ranges too):
// ?start= an RFC 3339 time or seconds before now (-600), &duration= seconds or a Go duration
// (5m). It starts at the keyframe at or before start (X-Relaycast-Start says when that was)
// and ends at start+duration.
func (s *Server) servePlayback(w http.ResponseWriter, r *http.Request, path, segment string) {
	if !s.recorderFor(w, path) {
		return
	}
	q := r.URL.Query()
	from, err := parseStart(q.Get("start"), time.Now())
	if err != nil {
		jsonError(w, http.StatusBadRequest, "start: "+err.Error())
		return
	}
	d, err := parseLength(q.Get("duration"))
	if err != nil {
		jsonError(w, http.StatusBadRequest, "duration: "+err.Error())
		return
	}
	spans, err := s.control.Recorder.Spans(path)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if segment != "" {
		if err := serveSegment(w, s.control.RecordingFiles, spans, q.Get("at")); err != nil {
			jsonError(w, http.StatusInternalServerError, err.Error())
		}
		return
	}
	if q.Get("format") == "hls" {
		s.servePlaybackHLS(w, r, spans, path, from, d)
		return
	}
	clip, err := playback.Make(s.control.RecordingFiles, spans, from, d)
	if errors.Is(err, playback.ErrNothing) {
		jsonError(w, http.StatusNotFound, nothingRecorded(path, from, d))
		return
	}
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer clip.Close()
	mp4, _, err := clip.MP4()
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("X-Relaycast-Start", clip.Start.UTC().Format(time.RFC3339Nano))
	h.Set("X-Relaycast-Duration", strconv.FormatFloat(clip.Duration.Seconds(), 'f', 3, 64))
	if clip.Cut {
		h.Set("X-Relaycast-Cut", "codec settings change")
	}
	name := strings.ReplaceAll(path, "/", "_") + "_" + clip.Start.UTC().Format("2006-01-02T15-04-05Z") + ".mp4"
	h.Set("Content-Disposition", `inline; filename="`+name+`"`)
	http.ServeContent(w, r, name, time.Time{}, mp4)
}

func nothingRecorded(path string, from time.Time, d time.Duration) string {
	return fmt.Sprintf("no recording of %s from %s for %v", path, from.UTC().Format(time.RFC3339), d)
}

// servePlaybackHLS answers a range as HLS VOD of MPEG-TS segments, a discontinuity where its
// time jumps (a hole, new codec settings). Its segments' URLs name each segment's file and
// span (playback.Segment.Ref), so serving one reads that file alone.
func (s *Server) servePlaybackHLS(w http.ResponseWriter, r *http.Request, spans []record.Span, path string, from time.Time, d time.Duration) {
	plan, err := playback.PlanHLS(s.control.RecordingFiles, spans, from, d)
	if errors.Is(err, playback.ErrNothing) {
		jsonError(w, http.StatusNotFound, nothingRecorded(path, from, d))
		return
	}
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	q := r.URL.Query()
	q.Del("format")
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	_, _ = io.WriteString(w, plan.Playlist(segmentURI("playback/", q.Encode()), false, 0))
}

// maxPlayback bounds one playback request.
const maxPlayback = 24 * time.Hour

// parseStart reads a start: an RFC 3339 time, or seconds before now (negative).
func parseStart(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, errors.New("missing (an RFC 3339 time, or -SECONDS before now)")
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs > 0 {
			return time.Time{}, errors.New("seconds from now must be negative (-600: ten minutes ago)")
		}
		return now.Add(time.Duration(secs * float64(time.Second))), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is no RFC 3339 time (2026-12-03T14:02:00Z) nor -SECONDS", v)
	}
	return t, nil
}

// parseLength reads a duration: seconds, or a Go duration (5m, 90s).
func parseLength(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if secs, ferr := strconv.ParseFloat(v, 64); ferr == nil {
		d, err = time.Duration(secs*float64(time.Second)), nil
	}
	switch {
	case v == "":
		return 0, errors.New("missing (seconds, or 5m)")
	case err != nil:
		return 0, fmt.Errorf("%q is no duration (300, 5m)", v)
	case d <= 0 || d > maxPlayback:
		return 0, fmt.Errorf("%v: want more than 0 and at most %v", d, maxPlayback)
	}
	return d, nil
}

// recorderFor answers a control call about path's recordings that cannot be made (a bad
// path, no recorder) and reports whether it can.
func (s *Server) recorderFor(w http.ResponseWriter, path string) bool {
	if err := relay.ValidatePath(path); err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return false
	}
	if s.control.Recorder == nil || s.control.RecordingFiles == nil {
		jsonError(w, http.StatusNotImplemented, "no recorder")
		return false
	}
	return true
}
