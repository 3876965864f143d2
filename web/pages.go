package web

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// assets serves the pages' scripts, styles and icon under /static/: embedded files by exact
// name, 404 for anything else (no directory listings, no errors from odd names).
func assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if !fs.ValidPath(name) || strings.Contains(name, "/") || strings.HasSuffix(name, ".html") {
			http.NotFound(w, r)
			return
		}
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	})
}

func serveIndex(w http.ResponseWriter, r *http.Request) { servePage(w, r, "static/index.html") }

// servePlayer serves the player page, for /APP/NAME and for /APP/NAME/embed alike: the page
// reads which from its URL.
func servePlayer(w http.ResponseWriter, r *http.Request, _ string) {
	servePage(w, r, "static/player.html")
}

// serveVODPage serves the page of a stored video, for /vod/NAME and /vod/NAME/embed.
func serveVODPage(w http.ResponseWriter, r *http.Request) { servePage(w, r, "static/vod.html") }

func servePage(w http.ResponseWriter, r *http.Request, name string) {
	b, err := static.ReadFile(name)
	if err != nil {
		http.Error(w, "page missing", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
