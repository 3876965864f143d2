package vod

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path"
)

// HTTP serves stored media: progressive files with byte ranges, the list, uploads and
// deletes. Who may do what is decided in front of it (web).
type HTTP struct {
	Lib       *Library
	MaxUpload int64
	Log       *slog.Logger
}

// ServeFile sends a stored file with byte-range support (206), so a <video> tag can seek
// and curl can resume: NAME.flv or NAME.mp4 as it is on disk, and NAME.mp4 of a file that is
// not a faststart MP4 (an FLV, an MP4 with its moov at the end) as one made from its index.
func (h *HTTP) ServeFile(w http.ResponseWriter, r *http.Request, file string) {
	name, ext, err := SplitFile(file)
	if err != nil {
		httpError(w, err)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if ext == ".mp4" {
		f, c, e, err := h.Lib.indexed(name)
		if err != nil {
			httpError(w, err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "video/mp4")
		if e.File == file && c.ix.Progressive {
			http.ServeContent(w, r, path.Base(file), e.modTime, f)
			return
		}
		m, err := c.remuxed()
		if err != nil {
			h.Log.Warn("remux", "file", e.File, "err", err)
			http.Error(w, "cannot serve this file as MP4: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
		http.ServeContent(w, r, path.Base(file), e.modTime, m.Open(f))
		return
	}
	f, e, err := h.Lib.Open(file)
	if err != nil {
		httpError(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "video/x-flv")
	http.ServeContent(w, r, path.Base(file), e.modTime, f)
}

// ServeList answers GET /api/v1/media.
func (h *HTTP) ServeList(w http.ResponseWriter, _ *http.Request) {
	entries, err := h.Lib.List()
	if err != nil {
		h.Log.Warn("media list", "err", err)
	}
	if entries == nil {
		entries = []Entry{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		Media []Entry `json:"media"`
	}{entries})
}

// ServeUpload answers PUT /api/v1/media/NAME.mp4: 201 with the stored entry, or an error
// saying why the file was refused.
func (h *HTTP) ServeUpload(w http.ResponseWriter, r *http.Request, file string) {
	if r.ContentLength > h.MaxUpload {
		http.Error(w, "larger than the upload limit", http.StatusRequestEntityTooLarge)
		return
	}
	e, err := h.Lib.Store(file, r.Body, h.MaxUpload)
	if err != nil {
		h.Log.Warn("upload refused", "file", file, "remote", r.RemoteAddr, "err", err)
		httpError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(e)
}

// ServeDelete answers DELETE /api/v1/media/NAME.mp4.
func (h *HTTP) ServeDelete(w http.ResponseWriter, _ *http.Request, file string) {
	if err := h.Lib.Remove(file); err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func httpError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrInvalidName), errors.Is(err, ErrCutOff):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrTooLarge):
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
	case IsUnplayable(err):
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
	default:
		http.Error(w, "stored media unavailable", http.StatusInternalServerError)
	}
}
