package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Nginx is an nginx run by a test, on loopback ports of its own: an RTMP server
// (StartNginxRTMP) or an HTTP cache (StartNginxCache).
type Nginx struct {
	// RTMPAddr is where its RTMP server listens: application live, live on.
	RTMPAddr string
	// HTTPAddr is where its HTTP cache listens.
	HTTPAddr string
	dir      string
	conf     string
	proc     *Proc
}

// FreeTCPAddr returns a loopback address with a TCP port nobody listens on now.
func FreeTCPAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartNginxRTMP runs nginx-rtmp until the test ends.
func StartNginxRTMP(t testing.TB) *Nginx {
	t.Helper()
	NeedTools(t, "nginx")
	const module = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	if _, err := os.Stat(module); err != nil {
		t.Skipf("no nginx RTMP module (%v): make test-deps installs libnginx-mod-rtmp", err)
	}
	n := &Nginx{RTMPAddr: FreeTCPAddr(t), dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(n.dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.conf = filepath.Join(n.dir, "nginx.conf")
	conf := fmt.Sprintf(`load_module %s;
worker_processes 1;
daemon off;
master_process off;
pid %s/nginx.pid;
error_log %s/logs/error.log warn;
events { worker_connections 1024; }
rtmp {
  server {
    listen %s;
    application live { live on; }
  }
}
`, module, n.dir, n.dir, n.RTMPAddr)
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Start(t)
	return n
}

// Start runs nginx (again, after Kill) and waits until it accepts connections.
func (n *Nginx) Start(t testing.TB) {
	t.Helper()
	n.proc = StartProc(t, "nginx", "-c", n.conf, "-p", n.dir)
	addr := n.RTMPAddr + n.HTTPAddr // one of them
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) || n.proc.Exited() {
			t.Fatalf("nginx did not listen on %s: %v\n%s", addr, err, n.proc.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops nginx at once, as a crash would.
func (n *Nginx) Kill() { n.proc.Kill() }

// StartNginxCache runs nginx as the HTTP cache the README shows in front of upstream (an
// HTTP host:port) until the test ends. Its access log (CacheLog) has one line per request:
// the cache status, the upstream's status ("-" when the cache answered alone), the status
// and the request URI.
func StartNginxCache(t testing.TB, upstream string) *Nginx {
	t.Helper()
	NeedTools(t, "nginx")
	n := &Nginx{HTTPAddr: FreeTCPAddr(t), dir: t.TempDir()}
	for _, d := range []string{"logs", "cache", "tmp"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n.conf = filepath.Join(n.dir, "nginx.conf")
	tmp := filepath.Join(n.dir, "tmp")
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 4096; }
http {
  log_format cache '$upstream_cache_status $upstream_status $status $request_uri';
  access_log %[1]s/logs/access.log cache;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  proxy_cache_path %[1]s/cache keys_zone=hls:10m max_size=1g inactive=1m;
  server {
    listen %[3]s;
    location / {
      proxy_pass http://%[4]s;
      proxy_cache hls;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 10s;
      proxy_cache_revalidate on;
      proxy_buffering on;
    }
  }
}
`, n.dir, tmp, n.HTTPAddr, upstream)
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Start(t)
	return n
}

// CacheLog is what StartNginxCache's access log holds so far.
func (n *Nginx) CacheLog(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.dir, "logs", "access.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
