package web

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/relaycast/relaycast/playback"
	"github.com/relaycast/relaycast/record"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// Control is what the control API (/api/v1/sessions, /api/v1/record, /api/v1/config and
// DELETE /api/v1/streams/PATH) acts on.
type Control struct {
	// Recorder starts and stops the recording of a path; nil: the record calls answer 501.
	Recorder Recorder
	// RecordingFiles opens the recording files for playback by time range.
	RecordingFiles playback.Files
	// Config returns the running configuration as it should be shown (secrets hidden).
	Config func() any
	// Links returns the state of the pull sources, origin pulls and push relays; nil: the
	// links call answers with none.
	Links func() any
	// ClientAddr is the address a request comes from, which decides whether it is a
	// loopback one; nil: the connection's. Tests set it to play a remote client.
	ClientAddr func(r *http.Request) netip.Addr
}

// Recorder is what the control API needs of the recorder.
type Recorder interface {
	Set(path string, on bool)
	Recording() []string
	// Spans are a path's recording files on the wall clock, oldest first.
	Spans(path string) ([]record.Span, error)
}

// APIKey guards the control API. Without a key, only loopback clients may use it; with
// one, every client must give it, except loopback clients unless Loopback is set.
type APIKey struct {
	Key      string
	Loopback bool // loopback clients need the key too
}

// SetAPIKey replaces the control API's key (the configuration was reloaded).
func (s *Server) SetAPIKey(k APIKey) { s.apiKey.Store(&k) }

// controlRoutes mounts the control API on mux.
func (s *Server) controlRoutes(mux *http.ServeMux, c *Control) {
	s.control = c
	mux.HandleFunc("GET /api/v1/sessions", s.guarded(s.serveSessions))
	mux.HandleFunc("GET /api/v1/sessions/{id}", s.guarded(s.serveSession))
	mux.HandleFunc("DELETE /api/v1/sessions/{id}", s.guarded(s.kickSession))
	mux.HandleFunc("DELETE /api/v1/streams/{path...}", s.guarded(s.endStream))
	mux.HandleFunc("GET /api/v1/record", s.guarded(s.serveRecording))
	mux.HandleFunc("PUT /api/v1/record/{path...}", s.guarded(s.setRecording(true)))
	mux.HandleFunc("DELETE /api/v1/record/{path...}", s.guarded(s.setRecording(false)))
	mux.HandleFunc("GET /api/v1/config", s.guarded(s.serveConfig))
	mux.HandleFunc("GET /api/v1/links", s.guarded(s.serveLinks))
	mux.HandleFunc("GET /api/v1/recordings/{path...}", s.guarded(s.serveRecordings))
}

// guarded lets a request through to h if it may use the control API: 401 when a key is
// needed and missing or wrong, 403 from a non-loopback client while no key is set.
func (s *Server) guarded(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k := s.apiKey.Load()
		loopback := s.clientAddr(r).IsLoopback()
		switch {
		case k.Key == "" && !loopback:
			jsonError(w, http.StatusForbidden, "the control API answers loopback clients only until api_key is set")
			return
		case k.Key != "" && (!loopback || k.Loopback) && !keyMatches(r, k.Key):
			w.Header().Set("WWW-Authenticate", `Bearer realm="relaycast control API"`)
			jsonError(w, http.StatusUnauthorized, "the control API needs the API key: Authorization: Bearer KEY")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r)
	}
}

func (s *Server) clientAddr(r *http.Request) netip.Addr {
	if s.control.ClientAddr != nil {
		return s.control.ClientAddr(r)
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// keyMatches compares the request's key (Authorization: Bearer KEY, or X-API-Key: KEY) with
// key in constant time.
func keyMatches(r *http.Request, key string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		got = r.Header.Get("X-API-Key")
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(key)) == 1
}

type sessionJSON struct {
	ID          string      `json:"id"`
	Protocol    string      `json:"protocol"`
	Kind        string      `json:"kind"`
	Path        string      `json:"path"`
	Remote      string      `json:"remote"`
	Transport   string      `json:"transport,omitempty"`
	Since       time.Time   `json:"since"`
	BytesIn     uint64      `json:"bytes_in"`
	BytesOut    uint64      `json:"bytes_out"`
	Dropped     uint64      `json:"dropped_frames"`
	BitrateKbps uint64      `json:"bitrate_kbps"`
	Tracks      []trackJSON `json:"tracks,omitempty"` // a publisher's
}

func (s *Server) sessionsJSON() []sessionJSON {
	tracks := map[string][]*relay.Track{}
	for _, st := range s.streams.Streams() {
		tracks[st.Path()] = st.Tracks()
	}
	out := []sessionJSON{}
	for _, ss := range s.cfg.Sessions.List() {
		js := sessionJSON{ID: ss.ID, Protocol: ss.Protocol, Kind: string(ss.Kind), Path: ss.Path, Remote: ss.Remote,
			Transport: ss.Transport, Since: ss.Since, BytesIn: ss.BytesIn, BytesOut: ss.BytesOut, Dropped: ss.Dropped,
			BitrateKbps: ss.Bitrate / 1000}
		if ss.Kind == session.Publish {
			js.Tracks = tracksJSON(tracks[ss.Path])
		}
		out = append(out, js)
	}
	return out
}

func (s *Server) serveSessions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Sessions []sessionJSON `json:"sessions"`
	}{s.sessionsJSON()})
}

func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, js := range s.sessionsJSON() {
		if js.ID == id {
			writeJSON(w, http.StatusOK, js)
			return
		}
	}
	jsonError(w, http.StatusNotFound, "no session "+id)
}

// kickSession ends one session: its connection is closed (an RTSP session over UDP is torn
// down), and the peer sees what a network failure would show it.
func (s *Server) kickSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ss := s.cfg.Sessions.Get(id)
	if ss == nil || !ss.Kick() {
		jsonError(w, http.StatusNotFound, "no session "+id)
		return
	}
	s.log.Info("session ended by the control API", "id", id, "protocol", ss.Protocol, "kind", ss.Kind, "path", ss.Path, "remote", ss.Remote)
	w.WriteHeader(http.StatusNoContent)
}

// endStream ends a stream's publisher; the stream ends after the grace window unless a
// publisher takes it over.
func (s *Server) endStream(w http.ResponseWriter, r *http.Request) {
	path := r.PathValue("path")
	if n := s.cfg.Sessions.KickPath(session.Publish, path); n == 0 {
		jsonError(w, http.StatusNotFound, "no publisher on "+path+" (a playlist is ended by taking it out of the configuration)")
		return
	}
	s.log.Info("publisher ended by the control API", "path", path)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serveRecording(w http.ResponseWriter, _ *http.Request) {
	if s.control.Recorder == nil {
		jsonError(w, http.StatusNotImplemented, "no recorder")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Recording []string `json:"recording"`
	}{s.control.Recorder.Recording()})
}

// setRecording turns the recording of a path on or off from now on, live stream included,
// until the configuration is reloaded.
func (s *Server) setRecording(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.PathValue("path")
		if !s.recorderFor(w, path) {
			return
		}
		s.control.Recorder.Set(path, on)
		s.log.Info("recording set by the control API", "path", path, "record", on)
		writeJSON(w, http.StatusOK, struct {
			Path   string `json:"path"`
			Record bool   `json:"record"`
		}{path, on})
	}
}

func (s *Server) serveConfig(w http.ResponseWriter, _ *http.Request) {
	if s.control.Config == nil {
		jsonError(w, http.StatusNotImplemented, "no configuration to show")
		return
	}
	writeJSON(w, http.StatusOK, s.control.Config())
}

func (s *Server) serveLinks(w http.ResponseWriter, _ *http.Request) {
	var links any = []any{}
	if s.control.Links != nil {
		links = s.control.Links()
	}
	writeJSON(w, http.StatusOK, map[string]any{"links": links})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}
