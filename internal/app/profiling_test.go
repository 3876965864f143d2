package app

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/conf"
)

func TestPyroscopeReceivesProfiles(t *testing.T) {
	var mu sync.Mutex
	names := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		names[r.URL.Query().Get("name")] = true
		mu.Unlock()
	}))
	defer srv.Close()
	cfg := conf.Default()
	cfg.PyroscopeURL, cfg.PyroscopeTags = srv.URL, "region=test"
	stop, err := startProfiling(cfg, 500*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(names)
		got := names
		mu.Unlock()
		if n > 0 {
			t.Logf("uploads: %v", got)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no profile reached the Pyroscope server")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
}
