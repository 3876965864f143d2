package web

import (
	"net/http"
	"strings"
)

// cors is which pages of other origins may read the server's answers (CORS): a player on
// someone's site fetching playlists, segments and WebRTC answers.
type cors struct {
	any     bool            // "*": every origin, with one answer for all (CDN caches keep it)
	origins map[string]bool // otherwise these, each answered with its own (Vary: Origin)
}

func newCORS(allowed []string) cors {
	c := cors{origins: map[string]bool{}}
	for _, o := range allowed {
		if o == "*" {
			c.any = true
		}
		c.origins[strings.TrimSuffix(o, "/")] = true
	}
	return c
}

// corsExposed are the headers of answers a page's script may read: WHEP/WHIP's session,
// ICE servers and PATCH type, and byte ranges of media.
const corsExposed = "Location, ETag, Link, Accept-Patch, Content-Range, Accept-Ranges, Content-Length"

// apply sets r's answer's CORS headers; true means r was a preflight, now answered.
func (c cors) apply(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	origin := r.Header.Get("Origin")
	switch {
	case c.any:
		h.Set("Access-Control-Allow-Origin", "*")
	case len(c.origins) == 0:
		return false
	default:
		h.Add("Vary", "Origin") // a cache keeps an answer per origin
		if !c.origins[origin] {
			return false
		}
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Set("Access-Control-Expose-Headers", corsExposed)
	if r.Method != http.MethodOptions || origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	// Keys and ranges come in headers (Authorization, Range, X-API-Key, If-Match): the
	// requests say which; what they may do is the key's business, not the origin's.
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
	if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
		h.Set("Access-Control-Allow-Headers", asked)
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// withCORS answers cross-origin requests: the control API for apiOrigins, the rest (media,
// WebRTC, pages, the list of streams and of stored media) for mediaOrigins.
func withCORS(media, api cors, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := media
		if p := r.URL.Path; strings.HasPrefix(p, "/api/") && p != "/api/v1/streams" && !strings.HasPrefix(p, "/api/v1/media") {
			c = api
		}
		if c.apply(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}
