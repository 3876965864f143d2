package link

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/rtmp"
)

// forwardTarget names, among a path's pushes, the one to the origins of an edge.
const forwardTarget = "(origin)"

// reserveFor is how long a publish the origin took waits for its publisher's first frame
// on the edge before it is given up.
const reserveFor = 10 * time.Second

// ErrNoOrigin is returned by Forward when no origin could be reached.
var ErrNoOrigin = errors.New("no origin answered")

// reservation is the connection an origin took a publish on, held until the edge's
// publisher is on and its push takes it over.
type reservation struct {
	urls  []*url.URL // the origins, the one that took it first
	pub   *rtmp.Publisher
	timer *time.Timer
}

// Upstream is Forward as an access.Upstream: the origin decides on the edge's publishers.
func (m *Manager) Upstream(ctx context.Context, r access.Request) (bool, error) {
	return m.Forward(ctx, r.Path, r.Query.Get("key"))
}

// Forward asks an edge's RTMP origins, in turn, to take a publish of path with the
// publisher's key, so the origin's policy decides on the edge's publishers: ok is false
// when this server is no edge (or path is one of its own sources). The origin that takes
// it keeps the connection for the path's forward push, which starts with the publisher.
// An origin that refuses ends the asking; one that cannot be reached passes it on.
func (m *Manager) Forward(ctx context.Context, path, key string) (ok bool, err error) {
	m.mu.Lock()
	var urls []*url.URL
	_, sourced := m.links.Sources[path]
	for _, o := range m.links.Origins {
		if u, _ := parseURL(o, []string{"rtmp", "rtmps"}); u != nil && !sourced {
			urls = append(urls, withKey(u.JoinPath(path), key))
		}
	}
	m.mu.Unlock()
	if len(urls) == 0 {
		return false, nil
	}
	pub, i, err := publishFirst(ctx, urls)
	switch {
	case errors.Is(err, rtmp.ErrRefused):
		return true, fmt.Errorf("%w: %w", access.ErrUnauthorized, err)
	case err != nil:
		return true, fmt.Errorf("%w: %w", ErrNoOrigin, err)
	}
	// The origin that took it goes first when the forward reconnects.
	m.reserve(path, &reservation{urls: append(urls[i:i+1:i+1], append(urls[:i:i], urls[i+1:]...)...), pub: pub})
	return true, nil
}

// publishFirst opens an RTMP publish on the first of urls that takes it, and says which;
// one that cannot be reached passes the publish on to the next, one that refuses ends it.
func publishFirst(ctx context.Context, urls []*url.URL) (*rtmp.Publisher, int, error) {
	var errs []error
	for i, u := range urls {
		pub, err := rtmp.Dial(ctx, u)
		switch {
		case err == nil:
			return pub, i, nil
		case errors.Is(err, rtmp.ErrRefused):
			return nil, i, fmt.Errorf("%s refused: %w", redact(u), err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", redact(u), err))
	}
	return nil, 0, errors.Join(errs...)
}

// reserve holds r for path's forward push, closing any reservation it replaces; r is
// given up if no publisher comes for it.
func (m *Manager) reserve(path string, r *reservation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.reserved[path]; old != nil {
		old.timer.Stop()
		old.pub.Close()
	}
	if e := m.edges[path]; e != nil { // a viewer that came first: the path is published here now
		go e.stop()
		delete(m.edges, path)
	}
	m.reserved[path] = r
	r.timer = time.AfterFunc(reserveFor, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.reserved[path] == r {
			delete(m.reserved, path)
			r.pub.Close()
		}
	})
}

// takeReservation hands path's reserved origin connection to its forward push. The caller
// holds mu.
func (m *Manager) takeReservation(path string) *reservation {
	r := m.reserved[path]
	if r != nil {
		r.timer.Stop()
		delete(m.reserved, path)
	}
	return r
}

func withKey(u *url.URL, key string) *url.URL {
	if key != "" {
		q := u.Query()
		q.Set("key", key)
		u.RawQuery = q.Encode()
	}
	return u
}
