package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/rtmp"
)

// scrape reads /metrics: the text as served, and its families parsed.
func scrape(t *testing.T, srv *testenv.Server) ([]byte, map[string]*dto.MetricFamily) {
	t.Helper()
	res, err := http.Get(srv.HTTPURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", res.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return body, families
}

// value is the value of the series of family name with the labels given (name, value pairs).
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Fatalf("no %s in /metrics", name)
	}
	for _, m := range f.Metric {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("no %s%v in /metrics", name, labels)
	return 0
}

// sampleBitrate is the media bitrate of the test clip (its streams' bit rates), bits/s.
func sampleBitrate(t *testing.T) float64 {
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=bit_rate", "-of", "csv=p=0", testenv.Sample()).Output()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range strings.Fields(string(out)) {
		b, _ := strconv.ParseFloat(f, 64)
		total += b
	}
	return total
}

// With one ffmpeg publisher, 3 RTMP players, 2 RTSP readers and a browser's stream, the
// gauges say 1 publisher and 3/2/1 readers, the ingest counters grow by the clip's bitrate,
// and the whole page passes promtool's check and parses; the Grafana dashboard asks only for
// what it holds.
func TestMetricsCountPublishersReadersAndBytes(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe", "promtool")
	srv := testenv.Start(t, testenv.Options{})
	testenv.PublishSample(t, srv.URL("live/m"))
	testenv.WaitLive(t, srv, "live/m", 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 3 {
		p, err := rtmp.Play(ctx, srv.URL("live/m"), rtmp.PlayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		go func() {
			for _, err := p.Next(); err == nil; _, err = p.Next() {
			}
		}()
	}
	for range 2 {
		p := testenv.DialRTSP(t, srv.RTSPAddr, "live/m")
		p.SetupAll(t)
		p.Request(t, "PLAY")
		go func() { _, _ = io.Copy(io.Discard, p.Conn) }()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.HTTPURL("/live/m/stream.mp4"), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	go func() { _, _ = io.Copy(io.Discard, res.Body) }()

	hlsRes, err := http.Get(srv.HTTPURL("/live/m/index.m3u8")) // LL-HLS: bytes, no session
	if err != nil {
		t.Fatal(err)
	}
	hlsBody, _ := io.ReadAll(hlsRes.Body)
	hlsRes.Body.Close()

	deadline := time.Now().Add(5 * time.Second)
	var families map[string]*dto.MetricFamily
	for {
		_, families = scrape(t, srv)
		if value(t, families, "relaycast_readers", "protocol", "web") == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for proto, want := range map[string]float64{"rtmp": 3, "rtsp": 2, "web": 1} {
		if got := value(t, families, "relaycast_readers", "protocol", proto); got != want {
			t.Errorf("relaycast_readers{protocol=%q} = %v, want %v", proto, got, want)
		}
		if got := value(t, families, "relaycast_stream_readers", "path", "live/m", "protocol", proto); got != want {
			t.Errorf("relaycast_stream_readers{path=live/m,protocol=%q} = %v, want %v", proto, got, want)
		}
	}
	if got := value(t, families, "relaycast_publishers", "protocol", "rtmp"); got != 1 {
		t.Errorf("relaycast_publishers{protocol=rtmp} = %v, want 1", got)
	}
	if got := value(t, families, "relaycast_streams"); got != 1 {
		t.Errorf("relaycast_streams = %v, want 1", got)
	}

	// Over 4 s the ingest counter grows by the clip's bitrate (its frames as published), and
	// what each protocol sends by that times its readers.
	readers := map[string]float64{"rtmp": 3, "rtsp": 2, "web": 1}
	sent := func(families map[string]*dto.MetricFamily) map[string]float64 {
		out := map[string]float64{}
		for proto := range readers {
			out[proto] = value(t, families, "relaycast_sent_bytes_total", "protocol", proto)
		}
		return out
	}
	before, sentBefore, t0 := value(t, families, "relaycast_ingest_bytes_total", "protocol", "rtmp"), sent(families), time.Now()
	time.Sleep(4 * time.Second)
	body, families := scrape(t, srv)
	after, sentAfter, t1 := value(t, families, "relaycast_ingest_bytes_total", "protocol", "rtmp"), sent(families), time.Now()
	rate, want := (after-before)*8/t1.Sub(t0).Seconds(), sampleBitrate(t)
	if rate < 0.9*want || rate > 1.1*want {
		t.Errorf("ingest grew by %.0f bit/s, want the clip's %.0f ± 10 %%", rate, want)
	}
	for proto, n := range readers {
		rate := (sentAfter[proto] - sentBefore[proto]) * 8 / t1.Sub(t0).Seconds() / n
		// Against what came in over the same window, which holds the same frames.
		in := (after - before) * 8 / t1.Sub(t0).Seconds()
		t.Logf("%s sends %.0f bit/s per reader (%.0f came in)", proto, rate, in)
		if rate < 0.9*in || rate > 1.1*in {
			t.Errorf("relaycast_sent_bytes_total{protocol=%q} grew by %.0f bit/s per reader, want the ingest's %.0f ± 10 %%", proto, rate, in)
		}
	}
	if got := value(t, families, "relaycast_sent_bytes_total", "protocol", "hls"); got < float64(len(hlsBody)) || len(hlsBody) == 0 {
		t.Errorf("relaycast_sent_bytes_total{protocol=hls} = %v after a %d-byte playlist", got, len(hlsBody))
	}
	if got := value(t, families, "relaycast_stream_sent_bytes_total", "path", "live/m"); got < sentAfter["rtmp"]+sentAfter["rtsp"]+sentAfter["web"] {
		t.Errorf("relaycast_stream_sent_bytes_total{path=live/m} = %v, below the protocols' sum", got)
	}
	if got := value(t, families, "relaycast_stream_ingest_bytes_total", "path", "live/m"); got < after {
		t.Errorf("relaycast_stream_ingest_bytes_total{path=live/m} = %v, below the ingest total %v", got, after)
	}
	if _, ok := families["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := families["process_resident_memory_bytes"]; !ok {
		t.Error("no process metrics")
	}

	if got := value(t, families, "relaycast_connections"); got < 6 {
		t.Errorf("relaycast_connections = %v, want the publisher's and the readers' at least", got)
	}

	// A second publisher of live/m and a player of a missing path are refused, and counted.
	if _, err := rtmp.Publish(ctx, srv.URL("live/m"), nil); err == nil {
		t.Error("a second publisher of live/m was not refused")
	}
	if p, err := rtmp.Play(ctx, srv.URL("live/none"), rtmp.PlayOptions{}); err == nil {
		for m, err := p.Next(); err == nil && m.Kind != rtmp.StatusMsg; m, err = p.Next() {
		}
		p.Close()
	}
	rtsp := testenv.DialRTSP(t, srv.RTSPAddr, "live/none")
	rtsp.Request(t, "DESCRIBE")
	deadline = time.Now().Add(5 * time.Second)
	for {
		_, families = scrape(t, srv)
		if _, ok := families["relaycast_refusals_total"]; ok && len(families["relaycast_refusals_total"].Metric) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range [][]string{
		{"protocol", "rtmp", "kind", "publish", "reason", "already_publishing"},
		{"protocol", "rtmp", "kind", "play", "reason", "not_found"},
		{"protocol", "rtsp", "kind", "play", "reason", "not_found"},
	} {
		if got := value(t, families, "relaycast_refusals_total", want...); got != 1 {
			t.Errorf("relaycast_refusals_total%v = %v, want 1", want, got)
		}
	}

	checkDashboard(t, families)

	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = bytes.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	var list struct {
		Streams []struct {
			Protocol string `json:"protocol"`
		} `json:"streams"`
	}
	res2, err := http.Get(srv.HTTPURL("/api/v1/streams"))
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	if err := json.NewDecoder(res2.Body).Decode(&list); err != nil || len(list.Streams) != 1 || list.Streams[0].Protocol != "rtmp" {
		t.Errorf("the API's stream: %+v (%v), want its protocol rtmp", list, err)
	}
}

// A player that stops reading for 5 s falls behind the live edge: when it reads again it is
// skipped to a keyframe, and the frames it missed are counted.
func TestMetricsCountFramesAStalledReaderMissed(t *testing.T) {
	srv := testenv.Start(t, testenv.Options{RTMP: rtmp.Config{SendBuffer: 64 << 10}})
	testenv.PublishDemo(t, srv, "live/stall")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := rtmp.Play(ctx, srv.URL("live/stall"), rtmp.PlayOptions{ReadBuffer: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Next(); err != nil {
		t.Fatal(err)
	}
	_, families := scrape(t, srv)
	if got := value(t, families, "relaycast_dropped_frames_total", "protocol", "rtmp"); got != 0 {
		t.Fatalf("relaycast_dropped_frames_total{protocol=rtmp} = %v before the stall", got)
	}
	time.Sleep(5 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := p.Next(); err != nil {
			t.Fatal(err)
		}
		_, families = scrape(t, srv)
		if value(t, families, "relaycast_dropped_frames_total", "protocol", "rtmp") > 0 {
			return
		}
	}
	t.Fatal("relaycast_dropped_frames_total{protocol=rtmp} did not move after a 5 s stall")
}
