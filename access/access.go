// Package access decides who may publish and who may watch: stream keys (one for the server,
// or one per path), the rule that loopback may publish without one, signed URLs and JSON Web
// Tokens of the operator's site, and an optional HTTP callback that has the last word on
// publishing.
package access

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// ErrUnauthorized is returned for a publisher or viewer that may not proceed. Its message
// says why without repeating any secret.
var ErrUnauthorized = errors.New("unauthorized")

// ErrLogin is a refusal that a user's login would lift: HTTP answers it with a Basic
// challenge, which players (ffmpeg, browsers) answer with their credentials.
var ErrLogin = fmt.Errorf("%w: a user's login is needed", ErrUnauthorized)

// Policy holds the rules. The zero value lets loopback publish, refuses remote publishers and
// lets anyone watch.
type Policy struct {
	// PublishKey lets remote publishers in when their stream key query has key=PublishKey.
	PublishKey string
	// PathKeys gives paths their own publish key, required from everyone, loopback included.
	PathKeys map[string]string
	// ReadKey, when set, is required (?key=) from every viewer on every protocol.
	ReadKey string
	// OnPublish is an HTTP URL asked about every publish that the keys allow: a POST with the
	// path, the client address and the query; a 2xx answer allows it, anything else refuses.
	OnPublish        string
	OnPublishTimeout time.Duration
	Client           *http.Client
	// URLKey checks signed URLs (SignURL); with it, viewers need one (or another credential).
	URLKey string
	// JWT checks tokens; with it, viewers need one (or another credential). nil: none.
	JWT *JWT
	// Users may publish and read the paths their patterns match, and only they: a path one
	// of them may read (publish) needs one of their logins to be read (published).
	Users []User
}

// User is a login with rights by path pattern (path.Match: live/* is every stream of live).
type User struct {
	Name, Password string
	Publish, Read  []string
}

// Request is a publisher or viewer asking for a path.
type Request struct {
	Protocol string // rtmp, rtsp, http
	Path     string
	Addr     net.Addr
	Query    url.Values // from the stream name, e.g. NAME?key=SECRET
	// Secret, when set, checks a key against the credentials the client presented in its
	// protocol's own way (RTSP Basic or Digest), which may not reveal the key itself.
	Secret func(key string) bool
	// Login, when set, checks a user's name and password against the credentials the
	// client presented in its protocol's own way (RTSP, HTTP Basic); ?user=&pass= always count.
	Login func(user, pass string) bool
}

// logsIn says whether the request presents u's login.
func (r Request) logsIn(u User) bool {
	return r.Query.Get("user") == u.Name && equal(r.Query.Get("pass"), u.Password) || r.Login != nil && r.Login(u.Name, u.Password)
}

// byUser says whether users' rights cover action on r's path (then only they may), and if
// so why r may not, or nil.
func (p *Policy) byUser(action string, r Request) (bool, error) {
	covered := false
	for _, u := range p.Users {
		patterns := u.Read
		if action == "publish" {
			patterns = u.Publish
		}
		if !matchAny(patterns, r.Path) {
			continue
		}
		covered = true
		if r.logsIn(u) {
			return true, nil
		}
	}
	if !covered {
		return false, nil
	}
	return true, fmt.Errorf("%w: to %s %s log in as a user who may (user= and pass=, or the protocol's own login)", ErrLogin, action, r.Path)
}

// coveredBy says whether some user's rights cover action on r's path, and sets *err to why
// r may not, or nil (byUser, as a switch case).
func (p *Policy) coveredBy(action string, r Request, err *error) bool {
	covered, e := p.byUser(action, r)
	*err = e
	return covered
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

// AllowPublish says whether r may publish: by a token or signed URL it carries, else by the
// keys.
func (p *Policy) AllowPublish(ctx context.Context, r Request) error {
	token := tokenOf(r.Query)
	var userErr error
	switch want, ok := p.PathKeys[r.Path]; {
	case p.JWT != nil && token != "":
		if err := p.JWT.allow("publish", r.Path, token); err != nil {
			return err
		}
	case p.URLKey != "" && hasSignature(r.Query):
		if err := checkSigned(p.URLKey, "publish", r.Path, r.Query, time.Now()); err != nil {
			return err
		}
	case p.coveredBy("publish", r, &userErr):
		if userErr != nil {
			return userErr
		}
	case ok:
		if !r.gives(want) {
			return fmt.Errorf("%w: wrong or missing key for %s", ErrUnauthorized, r.Path)
		}
	case isLoopback(r.Addr):
	case p.PublishKey == "":
		return fmt.Errorf("%w: remote publishers need a key: start the server with -publish-key", ErrUnauthorized)
	case !r.gives(p.PublishKey):
		return fmt.Errorf("%w: wrong or missing key", ErrUnauthorized)
	}
	if p.OnPublish != "" {
		return p.askOnPublish(ctx, r)
	}
	return nil
}

// gives says whether the request presents key: as ?key=, or in its protocol's credentials.
func (r Request) gives(key string) bool {
	return equal(r.Query.Get("key"), key) || r.Secret != nil && r.Secret(key)
}

// AllowRead says whether r may watch: anyone, unless a read key, signed URLs or tokens are
// set up; then one of them. A rendition is watched on its stream's rights (a signed URL of
// live/cam opens live/cam~480p, which its HLS playlist lists).
func (p *Policy) AllowRead(r Request) error {
	r.Path = relay.MainPath(r.Path)
	var userErr error
	switch token := tokenOf(r.Query); {
	case p.JWT != nil && token != "":
		return p.JWT.allow("read", r.Path, token)
	case p.URLKey != "" && hasSignature(r.Query):
		return checkSigned(p.URLKey, "read", r.Path, r.Query, time.Now())
	case p.coveredBy("read", r, &userErr):
		return userErr
	case p.ReadKey == "" && p.URLKey == "" && p.JWT == nil:
		return nil
	case p.ReadKey != "" && r.gives(p.ReadKey):
		return nil
	}
	var ways []string
	if p.ReadKey != "" {
		ways = append(ways, "the read key (?key=)")
	}
	if p.URLKey != "" {
		ways = append(ways, "a signed URL (?expires=&token=)")
	}
	if p.JWT != nil {
		ways = append(ways, "a token (?jwt=)")
	}
	return fmt.Errorf("%w: watching needs %s", ErrUnauthorized, strings.Join(ways, " or "))
}

func (p *Policy) askOnPublish(ctx context.Context, r Request) error {
	timeout := p.OnPublishTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{
		"action": "publish", "protocol": r.Protocol, "path": r.Path, "addr": addrString(r.Addr), "query": r.Query.Encode(),
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.OnPublish, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: on-publish callback: %v", ErrUnauthorized, err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: on-publish callback failed: %v", ErrUnauthorized, redact(err))
	}
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%w: on-publish callback answered %d", ErrUnauthorized, res.StatusCode)
	}
	return nil
}

// redact drops the URL (it may carry the query, and with it the key) from a client error.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func equal(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func isLoopback(a net.Addr) bool {
	switch v := a.(type) {
	case *net.TCPAddr:
		return v.IP.IsLoopback()
	case *net.UDPAddr:
		return v.IP.IsLoopback()
	}
	if a == nil {
		return false
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Reason names why a publish or play was refused, for metrics: one of unauthorized,
// not_found, invalid_path, already_publishing, too_many_streams, or other.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, relay.ErrInvalidPath):
		return "invalid_path"
	case errors.Is(err, relay.ErrNotFound), errors.Is(err, relay.ErrEnded):
		return "not_found"
	case errors.Is(err, relay.ErrAlreadyPublishing):
		return "already_publishing"
	case errors.Is(err, relay.ErrTooManyStreams):
		return "too_many_streams"
	default:
		return "other"
	}
}

// Switch is a Policy that may be replaced while servers use it (a configuration reload):
// every request is decided by the policy current when it asks.
type Switch struct {
	p  atomic.Pointer[Policy]
	up atomic.Pointer[Upstream]
}

// Upstream decides on a publish in the policy's place when it says it decided: an edge
// asks its origin, whose policy then applies to the edge's publishers.
type Upstream func(ctx context.Context, r Request) (decided bool, err error)

// SetUpstream has u decide on publishes first.
func (s *Switch) SetUpstream(u Upstream) { s.up.Store(&u) }

// NewSwitch returns a Switch deciding with p.
func NewSwitch(p *Policy) *Switch {
	s := &Switch{}
	s.Set(p)
	return s
}

// Set makes p the policy from now on.
func (s *Switch) Set(p *Policy) { s.p.Store(p) }

// AllowPublish says whether r may publish, by the current policy.
func (s *Switch) AllowPublish(ctx context.Context, r Request) error {
	if up := s.up.Load(); up != nil {
		if decided, err := (*up)(ctx, r); decided {
			return err
		}
	}
	return s.p.Load().AllowPublish(ctx, r)
}

// AllowRead says whether r may watch, by the current policy.
func (s *Switch) AllowRead(r Request) error { return s.p.Load().AllowRead(r) }
