package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// HLSJSVersion is the hls.js scripts/install-test-deps.sh fetches from npm.
const HLSJSVersion = "1.6.13"

// HLSJS returns hls.min.js, the player most sites put HLS in, as install-test-deps keeps it.
func HLSJS(t testing.TB) []byte {
	t.Helper()
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(home, ".cache")
	}
	b, err := os.ReadFile(filepath.Join(dir, "relaycast", "hls.js-"+HLSJSVersion, "hls.min.js"))
	if err != nil {
		t.Fatalf("hls.js %s: %v: run `make test`, which fetches it", HLSJSVersion, err)
	}
	return b
}
