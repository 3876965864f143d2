package web

import (
	"io"
	"net/http"
	"sync/atomic"

	"github.com/relaycast/relaycast/session"
)

// counted counts the bytes of h's responses as sent by protocol, for responses that are no
// session's (LL-HLS playlists and parts, stored files).
func (s *Server) counted(protocol string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&countingWriter{ResponseWriter: w, t: s.cfg.Sessions, protocol: protocol}, r)
	})
}

// countingWriter counts what goes through it, and keeps the sendfile path of
// http.ServeContent (ReadFrom) and http.ResponseController (Unwrap).
type countingWriter struct {
	http.ResponseWriter
	t        *session.Table
	protocol string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.t.AddOut(w.protocol, n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.t.AddOut(w.protocol, int(n))
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the bytes of a request body read.
type countingBody struct {
	io.ReadCloser
	n *atomic.Uint64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(uint64(n))
	return n, err
}

// Uploaded returns the bytes of stored media received by uploads so far.
func (s *Server) Uploaded() uint64 { return s.uploaded.Load() }
