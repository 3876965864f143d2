package hls

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/relaycast/relaycast/session"
)

// HLS clients are counted as sessions: a client's first playlist request (index.m3u8 or
// ts.m3u8) without a session id is sent on to the same URL with one (sessionParam), which the
// playlists carry on to the playlists they list, so every reload of a client names it. Its
// parts and segments are listed without it: they stay one URL for all, which a CDN caches
// once. A session ends when its playlist reloads stop for sessionIdle.

// sessionParam is the query parameter of an HLS session id.
const sessionParam = "hls_sid"

// sessionIdle is how long a session lasts without a playlist request: an MPEG-TS client
// reloads every 2 s, an LL-HLS one every part; a paused player comes back as a new one.
const sessionIdle = 10 * time.Second

// errSessionIdle is why a session that stopped asking ended.
var errSessionIdle = errors.New("viewer left (stopped asking)")

// sessions are the live HLS sessions, in the book.
type sessions struct {
	table *session.Table
	log   *slog.Logger
	mu    sync.Mutex
	live  map[string]*hlsSession // by id
	stop  chan struct{}
	done  chan struct{}
}

type hlsSession struct {
	v      *session.Viewer
	last   time.Time
	kicked bool
}

func newSessions(table *session.Table, log *slog.Logger) *sessions {
	s := &sessions{table: table, log: log, live: map[string]*hlsSession{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.expire()
	return s
}

// touch notes a request of session id for path, entering it in the book at its first; false
// means it was ended (kicked) and is refused.
func (s *sessions) touch(id, path, remote string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.live[id]
	if !ok {
		h = &hlsSession{}
		h.v = s.table.Join(s.log, session.Info{Protocol: "hls", Path: path, Remote: remote, Transport: "HTTP"},
			func() uint64 { return 0 }, func() { s.kick(id) })
		s.live[id] = h
	}
	h.last = time.Now()
	return !h.kicked
}

// kick ends a session from the control API: its requests are refused until it expires.
func (s *sessions) kick(id string) {
	s.mu.Lock()
	h := s.live[id]
	if h != nil && !h.kicked {
		h.kicked = true
		defer h.v.Leave(session.ErrKicked)
	}
	s.mu.Unlock()
}

// expire ends the sessions that stopped asking.
func (s *sessions) expire() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.end(time.Time{}, true)
			return
		case now := <-t.C:
			s.end(now.Add(-sessionIdle), false)
		}
	}
}

// end ends the sessions last seen before cutoff, or all of them.
func (s *sessions) end(cutoff time.Time, all bool) {
	var gone []*hlsSession
	s.mu.Lock()
	for id, h := range s.live {
		if all || h.last.Before(cutoff) {
			delete(s.live, id)
			if !h.kicked {
				gone = append(gone, h)
			}
		}
	}
	s.mu.Unlock()
	for _, h := range gone {
		h.v.Leave(errSessionIdle)
	}
}

func (s *sessions) close() {
	close(s.stop)
	<-s.done
}

// validSession is the form of the ids newSessionURL makes.
var validSession = regexp.MustCompile(`^[0-9a-f]{24}$`)

// newSessionURL is r's URL with a new session id, relative to r's directory.
func newSessionURL(r *http.Request, file string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	q := r.URL.Query()
	q.Set(sessionParam, hex.EncodeToString(b[:]))
	return file + "?" + q.Encode()
}

// sessionInURI matches the session id in a URI's query.
var sessionInURI = regexp.MustCompile(`([?&])` + sessionParam + `=[0-9a-f]+(&?)`)

// unsession takes the session id out of a playlist's media URIs (parts, segments, the init
// section, preload hints), keeping it in those of playlists.
func unsession(body []byte) []byte {
	if !strings.Contains(string(body), sessionParam+"=") {
		return body
	}
	lines := strings.Split(string(body), "\n")
	for i, l := range lines {
		if !strings.Contains(l, sessionParam+"=") {
			continue
		}
		if !strings.HasPrefix(l, "#") {
			if !strings.Contains(l, ".m3u8") {
				lines[i] = dropSession(l)
			}
			continue
		}
		lines[i] = uriAttr.ReplaceAllStringFunc(l, func(a string) string {
			if strings.Contains(a, ".m3u8") {
				return a
			}
			return dropSession(a)
		})
	}
	return []byte(strings.Join(lines, "\n"))
}

var uriAttr = regexp.MustCompile(`URI="[^"]*"`)

func dropSession(s string) string {
	return sessionInURI.ReplaceAllStringFunc(s, func(m string) string {
		sub := sessionInURI.FindStringSubmatch(m)
		if sub[1] == "?" && sub[2] == "&" {
			return "?"
		}
		if sub[1] == "&" && sub[2] == "&" {
			return "&"
		}
		return ""
	})
}
