package hls

import (
	"bytes"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
)

// Caching: a stock HTTP cache (nginx proxy_cache, a CDN) in front of LL-HLS may serve every
// response but the live playlist's newest version. A blocking playlist request
// (_HLS_msn=N[&_HLS_part=M]) is answered once N/M exist, and every client asks for it then:
// it is cached for about six target durations, as Apple's LL-HLS guidance has it; the plain playlist changes with every part, so it lives for a part's
// length at most. Segments and parts have names unique to their muxer (gohlslib's prefix) and
// never change. Playlists carry an ETag of their content and answer If-None-Match with 304;
// media an ETag of their name.
const (
	blockingPlaylistCache = "public, max-age=10"
	livePlaylistCache     = "public, max-age=0, s-maxage=0, must-revalidate"
	mediaCache            = "public, max-age=3600, immutable"
)

// cachedWriter sets the cache headers of one HLS response, holding back a playlist's body to
// tag it.
type cachedWriter struct {
	http.ResponseWriter
	r        *http.Request
	playlist bool
	status   int
	body     bytes.Buffer
	wrote    bool
}

func newCachedWriter(w http.ResponseWriter, r *http.Request) *cachedWriter {
	return &cachedWriter{ResponseWriter: w, r: r, playlist: strings.HasSuffix(r.URL.Path, ".m3u8")}
}

func (c *cachedWriter) WriteHeader(code int) {
	c.wrote = true
	if c.playlist {
		c.status = code
		return
	}
	if code == http.StatusOK {
		h := c.Header()
		h.Set("Cache-Control", mediaCache)
		name := c.r.URL.Path[strings.LastIndexByte(c.r.URL.Path, '/')+1:]
		h.Set("ETag", strconv.Quote(name))
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cachedWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	if c.playlist {
		return c.body.Write(b)
	}
	return c.ResponseWriter.Write(b)
}

// finish sends a held playlist with its validator, or 304 when the client has it.
func (c *cachedWriter) finish() {
	if !c.playlist || !c.wrote {
		return
	}
	if c.status != http.StatusOK {
		c.ResponseWriter.WriteHeader(c.status)
		_, _ = c.ResponseWriter.Write(c.body.Bytes())
		return
	}
	h := c.Header()
	cc := livePlaylistCache
	if c.r.URL.Query().Has("_HLS_msn") {
		cc = blockingPlaylistCache
	}
	h.Set("Cache-Control", cc)
	body := unsession(c.body.Bytes())
	c.body.Reset()
	c.body.Write(body)
	sum := fnv.New64a()
	sum.Write(c.body.Bytes())
	tag := `"` + strconv.FormatUint(sum.Sum64(), 36) + `"`
	h.Set("ETag", tag)
	if match := c.r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, tag) {
		c.ResponseWriter.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(c.body.Len()))
	c.ResponseWriter.WriteHeader(http.StatusOK)
	_, _ = c.ResponseWriter.Write(c.body.Bytes())
}

// Unwrap lets http.ResponseController reach the connection (gohlslib flushes media).
func (c *cachedWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
