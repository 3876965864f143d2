package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Nginx is an nginx (with the RTMP module) run by a test, on loopback ports of its own.
type Nginx struct {
	// RTMPAddr is where its RTMP server listens: application live, live on.
	RTMPAddr string
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", n.RTMPAddr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) || n.proc.Exited() {
			t.Fatalf("nginx did not listen on %s: %v\n%s", n.RTMPAddr, err, n.proc.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops nginx at once, as a crash would.
func (n *Nginx) Kill() { n.proc.Kill() }
