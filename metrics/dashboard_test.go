package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

var (
	metricName = regexp.MustCompile(`\b(?:relaycast|go|process)_[a-zA-Z0-9_]+\b`)
	legendVar  = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)
)

// checkDashboard fails unless every query of docs/grafana-dashboard.json parses (promtool)
// and names only metrics in families, and every label a legend shows is one of theirs.
func checkDashboard(t *testing.T, families map[string]*dto.MetricFamily) {
	t.Helper()
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr, LegendFormat string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	var rules strings.Builder
	rules.WriteString("groups:\n- name: dashboard\n  rules:\n")
	queries := 0
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			queries++
			fmt.Fprintf(&rules, "  - record: dashboard:q%d\n    expr: %q\n", queries, q.Expr)
			labels := map[string]bool{}
			names := metricName.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: %q names no metric", p.Title, q.Expr)
			}
			for _, name := range names {
				f, ok := families[name]
				if !ok {
					t.Errorf("panel %q: %s is not served at /metrics", p.Title, name)
					continue
				}
				for _, m := range f.Metric {
					for _, l := range m.Label {
						labels[l.GetName()] = true
					}
				}
			}
			for _, v := range legendVar.FindAllStringSubmatch(q.LegendFormat, -1) {
				if !labels[v[1]] {
					t.Errorf("panel %q: the legend shows {{%s}}, which %v do not have", p.Title, v[1], names)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("the dashboard has %d queries", queries)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("the dashboard's queries do not all parse: %v\n%s", err, out)
	}
}
