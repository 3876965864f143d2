package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/relaycast/relaycast/access"
)

// WebRTC answers WHEP offers for live paths; webrtc.Server is one. Its errors that carry a
// status (an unusable offer: 400, no codec in common: 422) say so with HTTPStatus.
type WebRTC interface {
	Play(ctx context.Context, path, key, remote string, offer []byte) (answer []byte, id string, err error)
	End(path, id string) error
}

// maxOffer bounds an SDP offer: a browser's is a few KiB.
const maxOffer = 64 << 10

// whepRoutes serves WHEP (draft-ietf-wish-whep): POST an offer to /APP/NAME/whep, get the
// answer and the session's Location; DELETE the Location to end it. CORS is open, so a page
// on another origin can play; the key comes as Authorization: Bearer KEY or ?key=.
func (s *Server) whepRoutes(mux *http.ServeMux, rtc WebRTC) {
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request, string)) {
		mux.HandleFunc(pattern, s.withStream(func(w http.ResponseWriter, r *http.Request, path string) {
			whepCORS(w)
			h(w, r, path)
		}))
	}
	options := func(allow string) func(http.ResponseWriter, *http.Request, string) {
		return func(w http.ResponseWriter, _ *http.Request, _ string) {
			w.Header().Set("Allow", allow)
			w.WriteHeader(http.StatusNoContent)
		}
	}
	handle("OPTIONS /{app}/{name}/whep", options("OPTIONS, POST"))
	handle("OPTIONS /{app}/{name}/whep/{id}", options("OPTIONS, DELETE"))
	handle("POST /{app}/{name}/whep", func(w http.ResponseWriter, r *http.Request, path string) { s.whepOffer(w, r, path, rtc) })
	handle("DELETE /{app}/{name}/whep/{id}", func(w http.ResponseWriter, r *http.Request, path string) {
		if err := rtc.End(path, r.PathValue("id")); err != nil {
			http.Error(w, "no such session", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	// Candidates are all in the answer (every ICE candidate of the server's one address);
	// a server without trickle answers PATCH so (RFC 9725, 4.3.1).
	handle("PATCH /{app}/{name}/whep/{id}", func(w http.ResponseWriter, _ *http.Request, _ string) {
		w.Header().Set("Allow", "OPTIONS, DELETE")
		http.Error(w, "trickle ICE and ICE restarts are not supported: every candidate is in the answer", http.StatusMethodNotAllowed)
	})
}

func (s *Server) whepOffer(w http.ResponseWriter, r *http.Request, path string, rtc WebRTC) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/sdp" {
		http.Error(w, "the offer must be application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	key := r.URL.Query().Get("key")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		key = bearer
	}
	if s.cfg.Access != nil {
		req := access.Request{Protocol: "webrtc", Path: path, Addr: remoteAddr(r), Query: url.Values{"key": {key}}}
		if err := s.cfg.Access.AllowRead(req); err != nil {
			http.Error(w, "this stream needs a key: Authorization: Bearer KEY, or ?key=", http.StatusUnauthorized)
			return
		}
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOffer))
	if err != nil {
		http.Error(w, "offer too large or cut short", http.StatusRequestEntityTooLarge)
		return
	}
	answer, id, err := rtc.Play(r.Context(), path, key, r.RemoteAddr, offer)
	if err != nil {
		var st interface{ HTTPStatus() int }
		if errors.As(err, &st) {
			http.Error(w, err.Error(), st.HTTPStatus())
			return
		}
		s.log.Warn("whep", "path", path, "err", err)
		mediaError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/"+path+"/whep/"+id)
	w.Header().Set("ETag", fmt.Sprintf("%q", id))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(answer)
}

// whepCORS lets a page on any origin play: WHEP carries its own authorization.
func whepCORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "OPTIONS, POST, DELETE, PATCH")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Link")
}
