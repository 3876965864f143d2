package access

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	remote   = &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 5000} // TEST-NET-3: never dialled
)

func q(s string) url.Values { v, _ := url.ParseQuery(s); return v }

func TestPublishKeys(t *testing.T) {
	p := &Policy{PublishKey: "s3cret", PathKeys: map[string]string{"live/vip": "vipkey"}}
	for _, tc := range []struct {
		name  string
		path  string
		addr  net.Addr
		query string
		ok    bool
	}{
		{"loopback without key", "live/a", loopback, "", true},
		{"remote without key", "live/a", remote, "", false},
		{"remote wrong key", "live/a", remote, "key=nope", false},
		{"remote right key", "live/a", remote, "key=s3cret", true},
		{"path key from loopback too", "live/vip", loopback, "", false},
		{"path key right", "live/vip", remote, "key=vipkey", true},
		{"server key does not open a path key", "live/vip", remote, "key=s3cret", false},
	} {
		err := p.AllowPublish(context.Background(), Request{Path: tc.path, Addr: tc.addr, Query: q(tc.query)})
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "vipkey")) {
			t.Errorf("%s: error %q must be ErrUnauthorized and must not show a key", tc.name, err)
		}
	}
}

func TestRemotePublishingNeedsAConfiguredKey(t *testing.T) {
	var p Policy
	err := p.AllowPublish(context.Background(), Request{Path: "live/a", Addr: remote})
	if err == nil || !strings.Contains(err.Error(), "-publish-key") {
		t.Fatalf("err = %v, want advice to set -publish-key", err)
	}
}

func TestOnPublishCallbackAllowsDeniesAndTimesOut(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := new(strings.Builder)
		_, _ = io.Copy(buf, r.Body)
		mu.Lock()
		got = append(got, buf.String())
		mu.Unlock()
		switch {
		case strings.Contains(buf.String(), "live/slow"):
			time.Sleep(500 * time.Millisecond)
		case strings.Contains(buf.String(), "live/deny"):
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	p := &Policy{OnPublish: srv.URL, OnPublishTimeout: 200 * time.Millisecond}
	for path, ok := range map[string]bool{"live/allow": true, "live/deny": false, "live/slow": false} {
		err := p.AllowPublish(context.Background(), Request{Protocol: "rtmp", Path: path, Addr: loopback, Query: q("key=abc")})
		if (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", path, err, ok)
		}
	}
	srv.Close() // waits for the slow handler
	for _, body := range got {
		if !strings.Contains(body, `"addr":"127.0.0.1:5000"`) || !strings.Contains(body, `"query":"key=abc"`) {
			t.Errorf("callback body %s lacks the address or query", body)
		}
	}
}

func TestReadKey(t *testing.T) {
	p := &Policy{ReadKey: "watch"}
	if err := p.AllowRead(Request{Query: q("key=watch")}); err != nil {
		t.Error(err)
	}
	if err := p.AllowRead(Request{Query: q("")}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("no key: %v", err)
	}
	if err := (&Policy{}).AllowRead(Request{}); err != nil {
		t.Errorf("no read key configured: %v", err)
	}
}
