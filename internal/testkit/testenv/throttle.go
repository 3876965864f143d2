package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Throttle is an HTTP proxy whose responses share one link of a rate the test sets and
// changes: a viewer's narrowing bandwidth, which adaptive players must notice. Requests
// wait for the link in turn, as on a real one.
type Throttle struct {
	URL  string // the proxy's base URL
	rate atomic.Int64
	mu   sync.Mutex
	free time.Time // when the link has sent what it was given
	sent atomic.Int64
}

// NewThrottle proxies target (http://HOST:PORT) at full speed until SetRate.
func NewThrottle(t testing.TB, target string) *Throttle {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	th := &Throttle{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(r *http.Response) error {
		r.Body = &throttled{ReadCloser: r.Body, th: th}
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	th.URL = srv.URL
	return th
}

// SetRate sets the link's rate in bits a second; 0 lifts the limit.
func (th *Throttle) SetRate(bps int64) { th.rate.Store(bps) }

// Sent is how many response bytes went through.
func (th *Throttle) Sent() int64 { return th.sent.Load() }

// take waits until the link has room for n more bytes.
func (th *Throttle) take(n int) {
	th.sent.Add(int64(n))
	bps := th.rate.Load()
	if bps == 0 {
		return
	}
	th.mu.Lock()
	now := time.Now()
	if th.free.Before(now) {
		th.free = now
	}
	th.free = th.free.Add(time.Duration(int64(n) * 8 * int64(time.Second) / bps))
	wait := th.free.Sub(now)
	th.mu.Unlock()
	time.Sleep(wait)
}

type throttled struct {
	io.ReadCloser
	th *Throttle
}

// Read hands on at most 8 KiB at a time, each after its time on the link.
func (r *throttled) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p[:min(len(p), 8<<10)])
	if n > 0 {
		r.th.take(n)
	}
	return n, err
}
