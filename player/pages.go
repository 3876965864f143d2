package player

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Assets serves the pages' scripts and styles under /static/.
func Assets() http.Handler {
	sub, _ := fs.Sub(static, "static")
	return http.StripPrefix("/static/", http.FileServerFS(sub))
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
