// Package metrics exports the server's state to Prometheus (/metrics). Everything is read at
// scrape time from counters the server keeps anyway (the relay's, each protocol's viewer
// counts), so metrics cost nothing on the paths that move frames.
package metrics

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// Sources are what a scrape reads.
type Sources struct {
	Relays *relay.Registry
	// Readers gives, by protocol (rtmp, rtsp, web), that protocol's viewers by path; stored
	// files' viewers are the paths under vod/.
	Readers map[string]func() map[string]int
	// Refusals gives, by protocol, the publishes and plays refused so far.
	Refusals map[string]func() map[session.Refusal]uint64
	// Connections is the connection limiter; nil: none.
	Connections interface {
		Open() int
		Refused() map[string]uint64
	}
	// Sessions is the book of publishers and viewers: bytes each way, frames dropped.
	Sessions *session.Table
	// Recordings gives what the recorder wrote so far; nil: no recorder.
	Recordings func() (bytes, files uint64)
	// Uploaded gives the bytes of stored media uploaded so far; nil: no uploads.
	Uploaded func() uint64
	// Links gives the state of the pulls and pushes to other servers; nil: none.
	Links func() []Link
	// SnapshotDecodes gives the still pictures decoded so far; nil: none.
	SnapshotDecodes func() uint64
	// Webhooks gives the events sent to webhooks, the POSTs that failed (each retried unless
	// refused for good), the events dropped by full queues and those waiting; nil: none.
	Webhooks func() (sent, failed, dropped uint64, queued int)
	// Ladder gives what each transcoded rendition has cost since the start; nil: none.
	Ladder func() []Rung
	// MaxPaths bounds the streams that get series of their own (by path, in path order), so
	// that a server with thousands of streams does not make thousands of series.
	MaxPaths int
}

// Link is one pull or push to another server (see the push package).
type Link struct {
	Kind, Path, URL    string // URL without credentials
	Live               bool   // media flows
	Connects, Failures uint64
}

// Rung is one transcoded rendition of a path's ladder.
type Rung struct {
	Path, Rung, Encoder string
	Running             bool
	CPU                 time.Duration // of its encoder processes, all of them so far
}

// DefaultMaxPaths is the default of Sources.MaxPaths.
const DefaultMaxPaths = 100

// Handler serves the metrics in Prometheus' text format, with the Go runtime's and the
// process's.
func Handler(src Sources) http.Handler {
	if src.MaxPaths <= 0 {
		src.MaxPaths = DefaultMaxPaths
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{src: src})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descStreams = prometheus.NewDesc("relaycast_streams",
		"Live streams, with a publisher or waiting in their grace window for one.", nil, nil)
	descPublishers = prometheus.NewDesc("relaycast_publishers",
		"Publishers by ingest protocol.", []string{"protocol"}, nil)
	descIngestFrames = prometheus.NewDesc("relaycast_ingest_frames_total",
		"Frames received from publishers, by ingest protocol.", []string{"protocol"}, nil)
	descIngestBytes = prometheus.NewDesc("relaycast_ingest_bytes_total",
		"Media bytes received from publishers (frame payloads), by ingest protocol.", []string{"protocol"}, nil)
	descReaders = prometheus.NewDesc("relaycast_readers",
		"Viewers of live streams, by protocol.", []string{"protocol"}, nil)
	descVODReaders = prometheus.NewDesc("relaycast_vod_readers",
		"Viewers of stored files, by protocol.", []string{"protocol"}, nil)
	descStreamBytes = prometheus.NewDesc("relaycast_stream_ingest_bytes_total",
		"Media bytes received on a stream, for the first streams by path (see the limit of paths).", []string{"path"}, nil)
	descStreamReaders = prometheus.NewDesc("relaycast_stream_readers",
		"Viewers of a stream by protocol, for the first streams by path.", []string{"path", "protocol"}, nil)
	descRefusals = prometheus.NewDesc("relaycast_refusals_total",
		"Refused publishes and plays, by protocol, kind (publish, play) and reason.", []string{"protocol", "kind", "reason"}, nil)
	descSent = prometheus.NewDesc("relaycast_sent_bytes_total",
		"Bytes sent to peers (viewers, and publishers' acknowledgements), by protocol (hls: LL-HLS responses; http: stored files).", []string{"protocol"}, nil)
	descReceived = prometheus.NewDesc("relaycast_received_bytes_total",
		"Bytes received from peers in sessions (publishers' streams with their protocol's framing, viewers' reports), by protocol.", []string{"protocol"}, nil)
	descDropped = prometheus.NewDesc("relaycast_dropped_frames_total",
		"Frames viewers missed because they fell behind and were skipped ahead (RTSP over UDP: packets their queue could not hold), by protocol.", []string{"protocol"}, nil)
	descTooSlow = prometheus.NewDesc("relaycast_readers_closed_too_slow_total",
		"Viewers closed because they kept falling behind after skipping ahead, by protocol.", []string{"protocol"}, nil)
	descStreamSent = prometheus.NewDesc("relaycast_stream_sent_bytes_total",
		"Bytes sent to a stream's viewers, for the first streams by path.", []string{"path"}, nil)
	descRecordBytes = prometheus.NewDesc("relaycast_recording_bytes_total",
		"Bytes written to recordings.", nil, nil)
	descRecordFiles = prometheus.NewDesc("relaycast_recording_files_total",
		"Recording files started (one per segment).", nil, nil)
	descUploaded = prometheus.NewDesc("relaycast_upload_bytes_total",
		"Bytes of stored media received by uploads (kept or not).", nil, nil)
	descConnections = prometheus.NewDesc("relaycast_connections",
		"Connections held now, on every port together.", nil, nil)
	descLinkUp = prometheus.NewDesc("relaycast_link_up",
		"1 while a pull or push to another server carries media, else 0; by kind (source, origin, push, forward), path and peer URL.", []string{"kind", "path", "url"}, nil)
	descLinkConnects = prometheus.NewDesc("relaycast_link_connects_total",
		"Connections of a link that carried media.", []string{"kind", "path", "url"}, nil)
	descLinkFailures = prometheus.NewDesc("relaycast_link_failures_total",
		"Attempts of a link that failed or ended (each is followed by a reconnect after a backoff).", []string{"kind", "path", "url"}, nil)
	descSnapshotDecodes = prometheus.NewDesc("relaycast_snapshot_decodes_total",
		"Still pictures (snapshot.jpg) decoded from keyframes: at most one per stream and size a second.", nil, nil)
	descWebhookEvents = prometheus.NewDesc("relaycast_webhook_events_total",
		"Events for webhooks by result: sent (a receiver took it) or dropped (its queue was full).", []string{"result"}, nil)
	descWebhookFailures = prometheus.NewDesc("relaycast_webhook_failures_total",
		"Webhook POSTs that failed: refused, timed out or unanswered (retried with backoff unless refused for good).", nil, nil)
	descWebhookQueued = prometheus.NewDesc("relaycast_webhook_queued",
		"Events waiting for their webhook receivers.", nil, nil)
	descLadderCPU = prometheus.NewDesc("relaycast_ladder_cpu_seconds_total",
		"CPU time of the encoder processes of a path's transcoded rendition (ladder rung).", []string{"path", "rung", "encoder"}, nil)
	descLadderRunning = prometheus.NewDesc("relaycast_ladder_running",
		"1 while a path's transcoded rendition runs (someone watches it).", []string{"path", "rung"}, nil)
	descConnectionsRefused = prometheus.NewDesc("relaycast_connections_refused_total",
		"Connections closed at once by a connection limit (server: the total; per_address).", []string{"limit"}, nil)
)

type collector struct{ src Sources }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStreams, descPublishers, descIngestFrames, descIngestBytes,
		descReaders, descVODReaders, descStreamBytes, descStreamReaders, descRefusals, descConnections,
		descConnectionsRefused, descSent, descReceived, descDropped, descTooSlow, descStreamSent, descRecordBytes,
		descRecordFiles, descUploaded, descLinkUp, descLinkConnects, descLinkFailures, descWebhookEvents, descWebhookFailures,
		descWebhookQueued, descSnapshotDecodes, descLadderCPU, descLadderRunning} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	streams := c.src.Relays.Streams()
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(len(streams)))
	for proto, in := range c.src.Relays.Ingest() {
		ch <- prometheus.MustNewConstMetric(descPublishers, prometheus.GaugeValue, float64(in.Publishers), proto)
		ch <- prometheus.MustNewConstMetric(descIngestFrames, prometheus.CounterValue, float64(in.Frames), proto)
		ch <- prometheus.MustNewConstMetric(descIngestBytes, prometheus.CounterValue, float64(in.Bytes), proto)
	}
	byPath := map[string]map[string]int{}
	for proto, readers := range c.src.Readers {
		live, stored := 0, 0
		byPath[proto] = readers()
		for path, n := range byPath[proto] {
			if strings.HasPrefix(path, relay.StoredPrefix) {
				stored += n
			} else {
				live += n
			}
		}
		ch <- prometheus.MustNewConstMetric(descReaders, prometheus.GaugeValue, float64(live), proto)
		ch <- prometheus.MustNewConstMetric(descVODReaders, prometheus.GaugeValue, float64(stored), proto)
	}
	for proto, refusals := range c.src.Refusals {
		for r, n := range refusals() {
			ch <- prometheus.MustNewConstMetric(descRefusals, prometheus.CounterValue, float64(n), proto, r.Kind, r.Reason)
		}
	}
	if conns := c.src.Connections; conns != nil {
		ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(conns.Open()))
		for limit, n := range conns.Refused() {
			ch <- prometheus.MustNewConstMetric(descConnectionsRefused, prometheus.CounterValue, float64(n), limit)
		}
	}
	var sentByPath map[string]session.Counts
	if t := c.src.Sessions; t != nil {
		for proto, tot := range t.Totals() {
			ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(tot.BytesOut), proto)
			ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(tot.BytesIn), proto)
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(tot.Dropped), proto)
			ch <- prometheus.MustNewConstMetric(descTooSlow, prometheus.CounterValue, float64(tot.TooSlow), proto)
		}
		sentByPath = t.ByPath()
	}
	if c.src.Recordings != nil {
		bytes, files := c.src.Recordings()
		ch <- prometheus.MustNewConstMetric(descRecordBytes, prometheus.CounterValue, float64(bytes))
		ch <- prometheus.MustNewConstMetric(descRecordFiles, prometheus.CounterValue, float64(files))
	}
	if c.src.Uploaded != nil {
		ch <- prometheus.MustNewConstMetric(descUploaded, prometheus.CounterValue, float64(c.src.Uploaded()))
	}
	if c.src.SnapshotDecodes != nil {
		ch <- prometheus.MustNewConstMetric(descSnapshotDecodes, prometheus.CounterValue, float64(c.src.SnapshotDecodes()))
	}
	if c.src.Webhooks != nil {
		sent, failed, dropped, queued := c.src.Webhooks()
		ch <- prometheus.MustNewConstMetric(descWebhookEvents, prometheus.CounterValue, float64(sent), "sent")
		ch <- prometheus.MustNewConstMetric(descWebhookEvents, prometheus.CounterValue, float64(dropped), "dropped")
		ch <- prometheus.MustNewConstMetric(descWebhookFailures, prometheus.CounterValue, float64(failed))
		ch <- prometheus.MustNewConstMetric(descWebhookQueued, prometheus.GaugeValue, float64(queued))
	}
	if c.src.Ladder != nil {
		for _, r := range c.src.Ladder() {
			running := 0.0
			if r.Running {
				running = 1
			}
			ch <- prometheus.MustNewConstMetric(descLadderCPU, prometheus.CounterValue, r.CPU.Seconds(), r.Path, r.Rung, r.Encoder)
			ch <- prometheus.MustNewConstMetric(descLadderRunning, prometheus.GaugeValue, running, r.Path, r.Rung)
		}
	}
	if c.src.Links != nil {
		links := c.src.Links()
		for _, l := range links[:min(len(links), c.src.MaxPaths)] {
			up := 0.0
			if l.Live {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descLinkUp, prometheus.GaugeValue, up, l.Kind, l.Path, l.URL)
			ch <- prometheus.MustNewConstMetric(descLinkConnects, prometheus.CounterValue, float64(l.Connects), l.Kind, l.Path, l.URL)
			ch <- prometheus.MustNewConstMetric(descLinkFailures, prometheus.CounterValue, float64(l.Failures), l.Kind, l.Path, l.URL)
		}
	}
	for _, s := range streams[:min(len(streams), c.src.MaxPaths)] {
		st := s.Stats()
		ch <- prometheus.MustNewConstMetric(descStreamBytes, prometheus.CounterValue, float64(st.Bytes), st.Path)
		if sentByPath != nil {
			ch <- prometheus.MustNewConstMetric(descStreamSent, prometheus.CounterValue, float64(sentByPath[st.Path].BytesOut), st.Path)
		}
		for _, proto := range sortedKeys(byPath) {
			ch <- prometheus.MustNewConstMetric(descStreamReaders, prometheus.GaugeValue, float64(byPath[proto][st.Path]), st.Path, proto)
		}
	}
}

func sortedKeys(m map[string]map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
