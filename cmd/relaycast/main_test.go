package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// build compiles the command into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relaycast")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestVersionAndPrintConfig(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "relaycast ") || !strings.Contains(string(out), "go1.") {
		t.Fatalf("-version: %v: %q", err, out)
	}
	first, err := exec.Command(bin, "-print-config", "-grace", "42s").Output()
	if err != nil || !bytes.Contains(first, []byte("\ngrace: 42s\n")) {
		t.Fatalf("-print-config: %v:\n%s", err, first)
	}
	file := filepath.Join(t.TempDir(), "relaycast.yaml")
	if err := os.WriteFile(file, first, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := exec.Command(bin, "-config", file, "-print-config").Output()
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("the printed configuration, read back and printed again, differs (%v):\n%s", err, again)
	}
}

// With -log-format json every log line is a JSON object; SIGHUP reloads the configuration
// file and SIGTERM stops the server cleanly.
func TestJSONLogsSIGHUPAndSIGTERM(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "relaycast.yaml")
	if err := os.WriteFile(file, []byte("demo: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", file, "-log-format", "json", "-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0",
		"-http", "127.0.0.1:0", "-srt", "127.0.0.1:0", "-webrtc", "127.0.0.1:0", "-rtsp-rtp-port", "0", "-media-dir", filepath.Join(dir, "media"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"msg": "not JSON: " + sc.Text()}
			}
			lines <- m
		}
	}()
	await := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("the server exited before logging %q", msg)
				}
				if s, _ := m["msg"].(string); strings.HasPrefix(s, "not JSON") {
					t.Fatal(s)
				} else if s == msg {
					return m
				}
			case <-timeout:
				t.Fatalf("no %q logged in 10 s", msg)
			}
		}
	}
	await("relaycast listening")
	if err := os.WriteFile(file, []byte("demo: false\nmax_streams: 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	await("configuration reloaded")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	if m := await("configuration reloaded"); m["changed"] != nil {
		t.Errorf("a SIGHUP with nothing changed reports changes: %v", m["changed"])
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	await("stopped")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("still running 5 s after SIGTERM")
	}
}

// The systemd unit passes systemd-analyze verify, with ExecStart pointing at a real binary.
func TestServiceUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	bin := build(t)
	unit, err := os.ReadFile("../../deploy/relaycast.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/relaycast", "-media-dir /var/lib/relaycast"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("the unit has no %s", want)
		}
	}
	file := filepath.Join(t.TempDir(), "relaycast.service")
	if err := os.WriteFile(file, bytes.ReplaceAll(unit, []byte("/usr/local/bin/relaycast"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", file).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// offline is how a container engine says it cannot fetch the base images.
var offline = regexp.MustCompile(`pinging container registry|no such host|i/o timeout|network is unreachable`)

// The Dockerfile builds, where a container engine can: a Docker daemon or podman.
func TestDockerfileBuilds(t *testing.T) {
	engine := ""
	if exec.Command("docker", "info").Run() == nil {
		engine = "docker"
	} else if _, err := exec.LookPath("podman"); err == nil {
		engine = "podman"
	}
	if engine == "" {
		t.Skip("no Docker daemon and no podman here")
	}
	tag := "relaycast-test:" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	out, err := exec.Command(engine, "build", "-t", tag, "../..").CombinedOutput()
	if err != nil && offline.Match(out) {
		t.Skipf("%s cannot reach the image registry here:\n%s", engine, out)
	}
	if err != nil {
		t.Fatalf("%s build: %v\n%s", engine, err, out)
	}
	defer exec.Command(engine, "rmi", tag).Run()
	out, err = exec.Command(engine, "run", "--rm", tag, "-version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "relaycast ") {
		t.Fatalf("%s run -version: %v: %s", engine, err, out)
	}
}

// A media directory the server may not read stops it at start with an error that names it,
// before any port is opened. As root (where modes do not bind) the server runs as nobody.
func TestUnreadableMediaDirectoryIsRefusedAtStart(t *testing.T) {
	bin := build(t)
	parent := t.TempDir()
	media := filepath.Join(parent, "media")
	if err := os.Mkdir(media, 0o000); err != nil {
		t.Fatal(err)
	}
	args := []string{"-demo=false", "-media-dir", media, "-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0",
		"-http", "127.0.0.1:0", "-srt", "127.0.0.1:0", "-webrtc", "127.0.0.1:0", "-rtsp-rtp-port", "0", "-metrics", ""}
	cmd := exec.Command(bin, args...)
	if os.Geteuid() == 0 {
		for _, d := range []string{filepath.Dir(parent), parent, filepath.Dir(bin)} { // nobody reaches them
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd = exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "media directory: open "+media+": permission denied") {
		t.Fatalf("exit %v, want a refusal naming the media directory:\n%s", err, out)
	}
}
