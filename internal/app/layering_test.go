package app_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/relaycast/relaycast/"

// The import rules of DESIGN.md's package table, checked on the production code (test
// files may import anything): a package that breaks one fails here, naming the import.
func TestPackagesImportOnlyDownTheLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		var own []string
		for _, imp := range f[1:] {
			if p, ok := strings.CutPrefix(imp, module); ok {
				own = append(own, p)
			}
		}
		imports[strings.TrimPrefix(f[0], module)] = own
	}
	protocols := []string{"rtmp", "rtsp", "srt", "webrtc"}
	allowed := map[string][]string{ // what each may import of this module; nil: nothing
		"relay":         nil,
		"codec":         {"relay"},
		"format":        {"relay", "codec"},
		"ingest":        {"relay", "codec", "format"},
		"rtppack":       {"relay", "codec"},
		"player/fmp4":   {"relay", "codec", "format", "session"},
		"player/hls":    {"relay", "codec", "format", "session"},
		"record":        {"relay", "codec", "format"},
		"vod":           {"relay", "codec", "format"},
		"session":       {"relay"},
		"access":        {"relay"},
		"connlimit":     nil,
		"udpgso":        nil,
		"webhook":       nil,
		"snapshot":      {"relay", "codec"},
		"slate":         {"relay", "vod"},
		"ladder":        {"relay", "format", "ingest"},
		"metrics":       {"relay", "session"},
		"web":           {"relay", "access", "session", "vod", "record", "playback"},
		"playback":      {"relay", "format", "record", "vod"},
		"internal/conf": {"relay", "vod", "ladder"}, // the name rules of paths, stored media and rungs
	}
	for _, p := range protocols {
		allowed[p] = []string{"relay", "codec", "format", "ingest", "rtppack", "access", "session"}
	}
	allowed["webrtc"] = append(allowed["webrtc"], "udpgso")
	allowed["link"] = append(slices.Clone(protocols), "relay", "codec", "ingest", "access")
	for pkg, want := range allowed {
		got, ok := imports[pkg]
		if !ok {
			t.Errorf("package %s is gone: update the rules", pkg)
		}
		for _, imp := range got {
			if !slices.Contains(want, imp) {
				t.Errorf("%s imports %s; it may import only %v", pkg, imp, want)
			}
		}
	}
	for pkg, got := range imports {
		for _, imp := range got {
			// The load tool publishes H.265 and AV1 with the E-RTMP test kit (gortmplib),
			// as OBS does.
			if strings.HasPrefix(imp, "internal/testkit/") && !strings.HasPrefix(pkg, "internal/testkit/") &&
				pkg != "internal/e2e" && pkg != "cmd/relaycast-bench" {
				t.Errorf("%s imports the test kit %s outside its tests", pkg, imp)
			}
		}
	}
}
