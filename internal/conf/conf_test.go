package conf

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedenceIsDefaultsFileEnvironmentFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "relaycast.yaml")
	yaml := "rtmp: \":1000\"\nhttp: \":2000\"\nrtsp: \":3000\"\ngrace: 30s\ndemo: false\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RELAYCAST_HTTP": ":2001", "RELAYCAST_RTSP": ":3001"}
	c, err := Load([]string{"-config", file, "-rtsp", ":3002", "-log-level", "debug"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.RTMP, want.HTTP, want.RTSP = ":1000", ":2001", ":3002"
	want.Grace, want.Demo, want.LogLevel = 30*time.Second, false, "debug"
	want.File = file
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("config = %+v\nwant     %+v", c, want)
	}
}

func TestBoolFlagsTakeBareAndExplicitForms(t *testing.T) {
	for args, want := range map[string]bool{"-demo": true, "-demo=false": false, "-demo=true": true, "": true} {
		c, err := Load(strings.Fields(args), func(string) string { return "" }, io.Discard)
		if err != nil || c.Demo != want {
			t.Errorf("%q: demo=%v err=%v, want demo=%v", args, c.Demo, err, want)
		}
	}
}

// A path's own settings override the server's.
func TestPathSettingsOverrideTheServers(t *testing.T) {
	off, on := false, true
	c := Default()
	c.Record = true
	c.Paths = map[string]Path{"live/a": {Record: &off}, "live/b": {Record: &on}, "live/c": {}}
	for path, want := range map[string]bool{"live/a": false, "live/b": true, "live/c": true, "live/d": true} {
		if got := c.Recorded(path); got != want {
			t.Errorf("Recorded(%s) = %v, want %v", path, got, want)
		}
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	noEnv := func(string) string { return "" }
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte("rtmp: \":1935\"\nrtmp_port: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yamlFile := func(body string) string {
		f := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{[]string{"-rtmp", "1935"}, noEnv, "rtmp"},
		{[]string{"-http", ":99999"}, noEnv, "http"},
		{[]string{"-rtsp-rtp-port", "8001"}, noEnv, "rtsp_rtp_port"},
		{[]string{"-log-level", "loud"}, noEnv, "log_level"},
		{[]string{"-grace", "soon"}, noEnv, "-grace"},
		{[]string{"-max-lag", "0s"}, noEnv, "max_lag"},
		{nil, func(k string) string { return map[string]string{"RELAYCAST_DEMO": "maybe"}[k] }, "RELAYCAST_DEMO"},
		{[]string{"-config", file}, noEnv, "rtmp_port"},
		{[]string{"-config", "/nonexistent.yaml"}, noEnv, "config file"},
		{[]string{"extra"}, noEnv, "extra"},
		{[]string{"-record-segment", "10ms"}, noEnv, "record_segment"},
		{[]string{"-webrtc-ice-servers", "http://stun.example.net"}, noEnv, "webrtc_ice_servers"},
		{[]string{"-allow-origin", "example.com"}, noEnv, "allow_origin"},
		{[]string{"-api-allow-origin", "https://example.com/admin"}, noEnv, "api_allow_origin"},
		{[]string{"-webrtc-ice-servers", "stun:u:p@stun.example.net"}, noEnv, "only a TURN server"},
		{[]string{"-webrtc-ice-servers", "turn:turn.example.net:3478?transport=sctp"}, noEnv, "webrtc_ice_servers"},
		{[]string{"-record-max-bytes", "-1"}, noEnv, "record_max_bytes"},
		{[]string{"-config", yamlFile("paths:\n  live/x: {playlist: [a.mov]}\n")}, noEnv, "playlist"},
		{[]string{"-config", yamlFile("paths:\n  live/x: {playlist: [../a.mp4]}\n")}, noEnv, "playlist"},
		{[]string{"-config", yamlFile("paths:\n  api/x: {record: true}\n")}, noEnv, "paths"},
	} {
		_, err := Load(tc.args, tc.env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to name %q", tc.args, err, tc.want)
		}
	}
}

// A value of the wrong type in the file is reported with its key, not just its line.
func TestFileErrorNamesTheKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "relaycast.yaml")
	if err := os.WriteFile(file, []byte("rtmp: \":1000\"\ngrace: lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load([]string{"-config", file}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "grace:") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("error %v, want it to name grace and its line", err)
	}
}

func TestChangedNamesTheKeysThatDiffer(t *testing.T) {
	a, b := Default(), Default()
	b.PublishKey, b.Grace = "k", time.Minute
	b.PublishKeys = map[string]string{"live/x": "y"}
	if got := Changed(a, b); !reflect.DeepEqual(got, []string{"grace", "publish_key", "publish_keys"}) {
		t.Fatalf("Changed = %v", got)
	}
	if shown := b.Shown(); shown["publish_key"] != "(set)" || shown["publish_keys"].(map[string]any)["live/x"] != "(set)" {
		t.Fatalf("Shown leaks a key: %v", shown)
	}
}

// -print-config prints every key, each with a comment, and reading what it prints gives back
// the configuration it printed.
func TestPrintedConfigReadsBackTheSame(t *testing.T) {
	on := true
	c := Default()
	c.PublishKey, c.Grace, c.LogFormat = "k: with a colon", 90*time.Second, "json"
	c.PublishKeys = map[string]string{"live/show": "s3"}
	c.Paths = map[string]Path{"live/tv": {Playlist: []string{"a.mp4", "b.flv"}, Loop: &on}}
	out := c.YAML()
	for _, f := range c.fields() {
		if !strings.Contains(string(out), "\n"+f.name+": ") {
			t.Errorf("no %s in:\n%s", f.name, out)
		}
	}
	file := filepath.Join(t.TempDir(), "printed.yaml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	back := Config{}
	if err := back.ReadFile(file); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	back.File = ""
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("read back %+v\nprinted   %+v", back, c)
	}
}
