package access_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

var remote = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5000}

// Signed URLs and tokens each give what they say, on the path they name, until they expire;
// a refusal says which it was.
func TestSignedURLsAndTokens(t *testing.T) {
	iss := testenv.NewTokenIssuer(t)
	p := &access.Policy{URLKey: "url-key", JWT: access.NewJWT(iss.HSKey, iss.JWKSURL)}
	hour := time.Now().Add(time.Hour)
	tampered := access.SignURL("url-key", "read", "live/cam", hour)
	tampered.Set("expires", tampered.Get("expires")+"0")
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	read := []string{"live/*"}
	for _, tc := range []struct {
		name, action, path string
		query              url.Values
		why                string // "" allows
	}{
		{"nothing", "read", "live/cam", nil, "needs"},
		{"signed", "read", "live/cam", access.SignURL("url-key", "read", "live/cam", hour), ""},
		{"signed, expired", "read", "live/cam", access.SignURL("url-key", "read", "live/cam", time.Now().Add(-time.Minute)), "expired"},
		{"signed, tampered", "read", "live/cam", tampered, "altered"},
		{"signed, other path", "read", "live/other", access.SignURL("url-key", "read", "live/cam", hour), "not for read live/other"},
		{"signed for read, to publish", "publish", "live/cam", access.SignURL("url-key", "read", "live/cam", hour), "not for publish"},
		{"signed to publish", "publish", "live/cam", access.SignURL("url-key", "publish", "live/cam", hour), ""},
		{"RS256", "read", "live/cam", q("jwt", iss.Token(t, "RS256", time.Hour, read, nil)), ""},
		{"HS256 as the key", "read", "live/cam", q("key", iss.Token(t, "HS256", time.Hour, read, nil)), ""},
		{"RS256, expired", "read", "live/cam", q("jwt", iss.Token(t, "RS256", -time.Hour, read, nil)), "expired"},
		{"RS256, other path", "read", "vod/cam", q("jwt", iss.Token(t, "RS256", time.Hour, read, nil)), "does not give read on vod/cam"},
		{"RS256, read only, to publish", "publish", "live/cam", q("jwt", iss.Token(t, "RS256", time.Hour, read, nil)), "does not give publish"},
		{"RS256 to publish", "publish", "live/cam", q("jwt", iss.Token(t, "RS256", time.Hour, nil, []string{"live/cam"})), ""},
		{"RS256, tampered", "read", "live/cam", q("jwt", iss.Token(t, "RS256", time.Hour, read, nil)+"x"), "signature"},
		{"HS256 with another key", "read", "live/cam", q("jwt", (&testenv.TokenIssuer{HSKey: "not-the-key"}).Token(t, "HS256", time.Hour, read, nil)), "signature"},
	} {
		r := access.Request{Protocol: "rtmp", Path: tc.path, Addr: remote, Query: tc.query}
		var err error
		if tc.action == "read" {
			err = p.AllowRead(r)
		} else {
			err = p.AllowPublish(context.Background(), r)
		}
		switch {
		case tc.why == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.why != "" && (!errors.Is(err, access.ErrUnauthorized) || !strings.Contains(err.Error(), tc.why)):
			t.Errorf("%s: %v, want a refusal saying %q", tc.name, err, tc.why)
		}
	}
}

// A path a user's rights cover takes that user's login, from loopback too, and nothing
// else; other paths keep the other rules.
func TestUsersRights(t *testing.T) {
	p := &access.Policy{PublishKey: "key", Users: []access.User{
		{Name: "alice", Password: "a-pass", Publish: []string{"live/alice"}, Read: []string{"live/alice", "private/*"}},
		{Name: "bob", Password: "b-pass", Read: []string{"private/*"}},
	}}
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	login := func(u, pw string) url.Values { return url.Values{"user": {u}, "pass": {pw}} }
	for _, tc := range []struct {
		name, action, path string
		addr               net.Addr
		q                  url.Values
		ok                 bool
	}{
		{"alice publishes hers", "publish", "live/alice", remote, login("alice", "a-pass"), true},
		{"alice, wrong password", "publish", "live/alice", remote, login("alice", "nope"), false},
		{"bob publishes alice's", "publish", "live/alice", remote, login("bob", "b-pass"), false},
		{"the server's key on alice's", "publish", "live/alice", remote, url.Values{"key": {"key"}}, false},
		{"loopback on alice's", "publish", "live/alice", loop, nil, false},
		{"the server's key elsewhere", "publish", "live/other", remote, url.Values{"key": {"key"}}, true},
		{"bob reads private", "read", "private/x", remote, login("bob", "b-pass"), true},
		{"nobody reads private", "read", "private/x", remote, nil, false},
		{"anyone reads the rest", "read", "live/other", remote, nil, true},
	} {
		r := access.Request{Protocol: "rtmp", Path: tc.path, Addr: tc.addr, Query: tc.q}
		var err error
		if tc.action == "read" {
			err = p.AllowRead(r)
		} else {
			err = p.AllowPublish(context.Background(), r)
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want allowed=%v", tc.name, err, tc.ok)
		}
	}
	// a protocol's own login (RTSP's Digest) counts as the query's
	r := access.Request{Path: "private/x", Addr: remote, Login: func(u, pw string) bool { return u == "bob" && pw == "b-pass" }}
	if err := p.AllowRead(r); err != nil {
		t.Errorf("bob by the protocol's login: %v", err)
	}
}
