package testenv

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ProbeDuration is a file's length as ffprobe reads it (the longest of its streams).
func ProbeDuration(ctx context.Context, t testing.TB, file string) time.Duration {
	t.Helper()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=duration", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var longest float64
	for _, f := range strings.Fields(string(out)) {
		if v, err := strconv.ParseFloat(strings.Trim(f, ","), 64); err == nil {
			longest = math.Max(longest, v)
		}
	}
	return time.Duration(longest * float64(time.Second))
}

// StartOf is the absolute start a DVR playlist's URL was sent to (?start=).
func StartOf(t testing.TB, u string) time.Time {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	start, err := time.Parse(time.RFC3339Nano, p.Query().Get("start"))
	if err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return start
}

// Recordings is a path's book of recordings as the control API lists it
// (/api/v1/recordings/APP/NAME).
type Recordings struct {
	Path     string
	Segments []struct {
		File     string
		URL      string
		Start    time.Time
		End      time.Time
		Duration float64 `json:"duration_seconds"`
		Bytes    int64
		Writing  bool
	}
	Gaps []struct{ Start, End time.Time }
}

// ListRecordings gets a path's book from its URL.
func ListRecordings(t testing.TB, u string) Recordings {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var l Recordings
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}
