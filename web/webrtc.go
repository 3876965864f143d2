package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/relay"
)

// WebRTC answers WHEP offers for live paths and WHIP offers of publishers; webrtc.Server is
// one. Its errors that carry a status (an unusable offer: 400, no codec in common: 422) say
// so with HTTPStatus.
type WebRTC interface {
	Play(ctx context.Context, path, key, remote string, offer []byte) (answer []byte, id string, err error)
	Publish(ctx context.Context, path, remote string, offer []byte) (answer []byte, id string, err error)
	End(path, id string) error
	// Patch applies a PATCH (RFC 9725, 4.3) to a session: trickled candidates (frag nil), or
	// an ICE restart, whose fragment it returns; etag is the session's ETag after it.
	Patch(ctx context.Context, path, id, ifMatch string, body []byte) (frag []byte, etag string, err error)
	// Playable says why a stream of these tracks cannot play over WebRTC, or nil: the page
	// then goes straight to fMP4.
	Playable(tracks []*relay.Track) error
}

// maxOffer bounds an SDP offer: a browser's is a few KiB.
const maxOffer = 64 << 10

// webrtcRoutes serves WHEP (draft-ietf-wish-whep) at /APP/NAME/whep and WHIP (RFC 9725) at
// /APP/NAME/whip: POST an offer, get the answer and the session's Location; PATCH it to
// trickle candidates or restart ICE; DELETE it to end the session. CORS (allow_origin)
// lets a page on another origin play and publish; the key comes as Authorization: Bearer
// KEY or ?key=.
func (s *Server) webrtcRoutes(mux *http.ServeMux, rtc WebRTC) {
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request, string)) {
		mux.HandleFunc(pattern, s.withStream(h))
	}
	options := func(allow string) func(http.ResponseWriter, *http.Request, string) {
		return func(w http.ResponseWriter, _ *http.Request, _ string) {
			s.iceServerLinks(w)
			w.Header().Set("Allow", allow)
			w.WriteHeader(http.StatusNoContent)
		}
	}
	for _, kind := range []string{"whep", "whip"} {
		handle("OPTIONS /{app}/{name}/"+kind, options("OPTIONS, POST"))
		handle("OPTIONS /{app}/{name}/"+kind+"/{id}", options("OPTIONS, PATCH, DELETE"))
		handle("POST /{app}/{name}/"+kind, func(w http.ResponseWriter, r *http.Request, path string) { s.webrtcOffer(w, r, path, kind, rtc) })
		handle("DELETE /{app}/{name}/"+kind+"/{id}", func(w http.ResponseWriter, r *http.Request, path string) {
			if err := rtc.End(path, r.PathValue("id")); err != nil {
				http.Error(w, "no such session", http.StatusNotFound)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		handle("PATCH /{app}/{name}/"+kind+"/{id}", func(w http.ResponseWriter, r *http.Request, path string) { s.webrtcPatch(w, r, path, kind, rtc) })
	}
}

// webrtcOffer answers a WHEP (kind "whep") or WHIP ("whip") offer.
func (s *Server) webrtcOffer(w http.ResponseWriter, r *http.Request, path, kind string, rtc WebRTC) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/sdp" {
		http.Error(w, "the offer must be application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	// The query as it came (signed URLs, ?jwt=), with a Bearer credential as the key.
	query := r.URL.Query()
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		query.Set("key", bearer)
	}
	key := query.Get("key")
	if s.cfg.Access != nil {
		req := access.Request{Protocol: "webrtc", Path: path, Addr: remoteAddr(r), Query: query, Login: basicLogin(r)}
		var err error
		if kind == "whip" {
			err = s.cfg.Access.AllowPublish(r.Context(), req)
		} else {
			err = s.cfg.Access.AllowRead(req)
		}
		if err != nil {
			refuse(w, fmt.Errorf("%w (a key or token goes as Authorization: Bearer, or ?key=)", err))
			return
		}
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOffer))
	if err != nil {
		http.Error(w, "offer too large or cut short", http.StatusRequestEntityTooLarge)
		return
	}
	var answer []byte
	var id string
	if kind == "whip" {
		answer, id, err = rtc.Publish(r.Context(), path, r.RemoteAddr, offer)
	} else {
		answer, id, err = rtc.Play(r.Context(), path, key, r.RemoteAddr, offer)
	}
	if err != nil {
		s.webrtcError(w, path, kind, err)
		return
	}
	s.iceServerLinks(w)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Accept-Patch", sdpFragment)
	w.Header().Set("Location", "/"+path+"/"+kind+"/"+id)
	w.Header().Set("ETag", fmt.Sprintf("%q", id))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(answer)
}

// ICEServer is a STUN or TURN server WHEP and WHIP clients are told of.
type ICEServer struct {
	URL                  string // stun:HOST:PORT, turn:HOST:PORT?transport=udp, …
	Username, Credential string // TURN's
}

// iceServerLinks names the configured STUN and TURN servers in Link headers (RFC 9725,
// 4.4), on OPTIONS (as OBS and the WHEP draft ask) and on the answer.
func (s *Server) iceServerLinks(w http.ResponseWriter) {
	for _, is := range s.cfg.ICEServers {
		link := "<" + is.URL + `>; rel="ice-server"`
		if is.Username != "" {
			link += fmt.Sprintf(`; username=%q; credential=%q; credential-type="password"`, is.Username, is.Credential)
		}
		w.Header().Add("Link", link)
	}
}

// sdpFragment is the type of a PATCH's body and its answer's.
const sdpFragment = "application/trickle-ice-sdpfrag"

// webrtcPatch answers a PATCH of a session: 204 for candidates the client trickles (the
// server's are all in its answer), 200 with the server's fragment for an ICE restart.
func (s *Server) webrtcPatch(w http.ResponseWriter, r *http.Request, path, kind string, rtc WebRTC) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != sdpFragment {
		http.Error(w, "a PATCH must be "+sdpFragment, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOffer))
	if err != nil {
		http.Error(w, "fragment too large or cut short", http.StatusRequestEntityTooLarge)
		return
	}
	frag, etag, err := rtc.Patch(r.Context(), path, r.PathValue("id"), r.Header.Get("If-Match"), body)
	if err != nil {
		s.webrtcError(w, path, kind, err)
		return
	}
	w.Header().Set("ETag", etag)
	if frag == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", sdpFragment)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(frag)
}

// webrtcError answers a refused offer with the status that says why.
func (s *Server) webrtcError(w http.ResponseWriter, path, kind string, err error) {
	var st interface{ HTTPStatus() int }
	switch {
	case errors.As(err, &st):
		http.Error(w, err.Error(), st.HTTPStatus())
	case kind == "whip" && errors.Is(err, relay.ErrAlreadyPublishing):
		http.Error(w, "the stream already has a publisher", http.StatusConflict)
	case kind == "whip" && errors.Is(err, relay.ErrInvalidPath):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		s.log.Warn(kind, "path", path, "err", err)
		mediaError(w, err)
	}
}
