package app_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testcert"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// ffmpeg publishes over RTMPS and plays over RTMPS and RTSPS without a warning; curl reads the
// API over HTTPS; a client that speaks plain RTMP to the TLS port is closed; replacing the
// certificate's files puts the new one in use.
func TestTLSOnEveryProtocol(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "curl")
	dir := t.TempDir()
	cert := testcert.NewIn(t, dir, "first")
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.TLSCert, c.TLSKey = cert.CertFile, cert.KeyFile
		c.RTMPS, c.RTSPS, c.HTTPS = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	}})
	addrs := srv.Addrs()
	testenv.PublishSample(t, "rtmps://"+addrs.RTMPS+"/live/tls")
	testenv.WaitLive(t, srv, "live/tls", 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, url := range []string{"rtmps://" + addrs.RTMPS + "/live/tls", "rtsps://" + addrs.RTSPS + "/live/tls"} {
		d := testenv.FFmpegDecode(ctx, t, url, 3*time.Second)
		if w := testenv.DecoderWarnings(d.Stderr); d.Err != nil || len(w) > 0 || d.Frames < testenv.MinFrames(2*time.Second) {
			t.Errorf("%s: exit %v, %d pictures, warnings:\n%s", url, d.Err, d.Frames, strings.Join(w, "\n"))
		}
	}

	out, err := exec.CommandContext(ctx, "curl", "-sS", "--fail", "--cacert", cert.CertFile,
		"https://localhost:"+port(addrs.HTTPS)+"/api/v1/streams").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"path":"live/tls"`) {
		t.Errorf("curl over HTTPS: %v: %s", err, out)
	}

	// Plain RTMP (C0 and C1) to the RTMPS port: the handshake fails and the server hangs up.
	c, err := net.Dial("tcp", addrs.RTMPS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write(append([]byte{3}, make([]byte, 1536)...))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil && strings.Contains(err.Error(), "timeout") {
		t.Errorf("a plain-text client on the RTMPS port is still connected 5 s later")
	}

	if got := servedCN(t, addrs.HTTPS); got != "first" {
		t.Fatalf("the HTTPS port serves %q, want the first certificate", got)
	}
	testcert.NewIn(t, dir, "second")
	srv.WaitLog(t, 5*time.Second, "TLS certificate reloaded")
	for deadline := time.Now().Add(5 * time.Second); servedCN(t, addrs.RTMPS) != "second"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate is not in use 5 s after its files changed")
		}
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// servedCN is the common name of the certificate a TLS port serves.
func servedCN(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}
