package player

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

// Assets serves the pages' scripts, styles and icon under /static/: embedded files by exact
// name, 404 for anything else (no directory listings, no errors from odd names).
func Assets() http.Handler {
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

// ServeIndex serves the stream list page.
func ServeIndex(w http.ResponseWriter, r *http.Request) { servePage(w, r, "static/index.html") }

// ServePlayer serves the player page, for /live/NAME and for /live/NAME/embed alike: the page
// reads which from its URL.
func ServePlayer(w http.ResponseWriter, r *http.Request) { servePage(w, r, "static/player.html") }

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
