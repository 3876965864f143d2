package web

import (
	"net/http"
	"time"

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
	if err := relay.ValidatePath(path); err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.control.Recorder == nil {
		jsonError(w, http.StatusNotImplemented, "no recorder")
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
