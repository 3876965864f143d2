package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/app"
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/rtmp"
	"github.com/relaycast/relaycast/web"
)

// clientHeader names, in these tests only, the address a request plays it comes from: the
// hook a server takes to tell loopback clients from others.
const clientHeader = "X-Test-Client"

func controlServer(t *testing.T, set func(*conf.Config)) *testenv.Server {
	return testenv.Start(t, testenv.Options{Conf: set, Tune: func(tu *app.Tuning) {
		tu.Web.Control = &web.Control{ClientAddr: func(r *http.Request) netip.Addr {
			if a, err := netip.ParseAddr(r.Header.Get(clientHeader)); err == nil {
				return a
			}
			ap, _ := netip.ParseAddrPort(r.RemoteAddr)
			return ap.Addr()
		}}
	}})
}

// call makes a control API request; client, when not empty, is the address it plays to
// come from, and key the API key it gives.
func call(t *testing.T, srv *testenv.Server, method, path, client, key string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, srv.HTTPURL(path), nil)
	if client != "" {
		req.Header.Set(clientHeader, client)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.StatusCode
}

type sessionJSON struct {
	ID          string `json:"id"`
	Protocol    string `json:"protocol"`
	Kind        string `json:"kind"`
	Path        string `json:"path"`
	Remote      string `json:"remote"`
	Transport   string `json:"transport"`
	BytesOut    uint64 `json:"bytes_out"`
	BytesIn     uint64 `json:"bytes_in"`
	BitrateKbps uint64 `json:"bitrate_kbps"`
	Tracks      []struct {
		Codec string `json:"codec"`
	} `json:"tracks"`
}

func sessions(t *testing.T, srv *testenv.Server) []sessionJSON {
	t.Helper()
	var list struct{ Sessions []sessionJSON }
	if code := call(t, srv, "GET", "/api/v1/sessions", "", "", &list); code != http.StatusOK {
		t.Fatalf("GET /api/v1/sessions: %d", code)
	}
	return list.Sessions
}

// With an ffmpeg publisher, 3 RTMP players, 2 ffmpeg RTSP readers (UDP and TCP) and a
// browser's stream, the control API lists each with its protocol and address; kicking the
// RTSP reader over UDP ends its ffmpeg within a second while the others go on.
func TestControlAPIListsEverySessionAndKicksOne(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	srv := controlServer(t, nil)
	publisher := testenv.PublishSample(t, srv.URL("live/c"))
	testenv.WaitLive(t, srv, "live/c", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var pictures [3]atomic.Int64
	for i := range pictures {
		p, err := rtmp.Play(ctx, srv.URL("live/c"), rtmp.PlayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		go func() {
			for m, err := p.Next(); err == nil; m, err = p.Next() {
				if m.Kind == rtmp.VideoMsg {
					pictures[i].Add(1)
				}
			}
		}()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.HTTPURL("/live/c/stream.mp4"), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var browserBytes atomic.Int64
	go func() {
		n, _ := io.Copy(io.Discard, res.Body)
		browserBytes.Store(n)
	}()
	type decoded struct {
		d  testenv.Decode
		at time.Time
	}
	readers := map[string]chan decoded{}
	for _, tr := range []string{"udp", "tcp"} {
		readers[tr] = make(chan decoded, 1)
		go func() {
			d := testenv.FFmpegDecode(ctx, t, srv.RTSPURL("live/c"), 12*time.Second, "-rtsp_transport", tr)
			readers[tr] <- decoded{d, time.Now()}
		}()
	}

	var list []sessionJSON
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if list = sessions(t, srv); len(list) == 7 || time.Now().After(deadline) {
			break
		}
	}
	got := map[string]int{}
	var udp sessionJSON
	for _, s := range list {
		key := fmt.Sprintf("%s %s %s", s.Protocol, s.Kind, s.Transport)
		got[key]++
		if s.Path != "live/c" || !strings.HasPrefix(s.Remote, "127.0.0.1:") {
			t.Errorf("session %+v: want path live/c from 127.0.0.1", s)
		}
		if s.Kind == "publish" {
			codecs := []string{}
			for _, tr := range s.Tracks {
				codecs = append(codecs, tr.Codec)
			}
			if strings.Join(codecs, ",") != "h264,aac" || s.BitrateKbps == 0 || s.BytesIn == 0 {
				t.Errorf("publisher %+v: want H264 and AAC, a bitrate and bytes in", s)
			}
		}
		if s.Protocol == "rtsp" && s.Transport == "UDP" {
			udp = s
		}
	}
	want := map[string]int{"rtmp publish ": 1, "rtmp read ": 3, "rtsp read UDP": 1, "rtsp read TCP": 1, "web read fMP4": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sessions %v, want %v (%+v)", got, want, list)
	}

	time.Sleep(time.Second) // every reader well under way
	before := [3]int64{pictures[0].Load(), pictures[1].Load(), pictures[2].Load()}
	kickedAt := time.Now()
	if code := call(t, srv, "DELETE", "/api/v1/sessions/"+udp.ID, "", "", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE the UDP reader's session: %d", code)
	}
	select {
	case r := <-readers["udp"]:
		if took := r.at.Sub(kickedAt); took > time.Second {
			t.Errorf("the kicked reader's ffmpeg ran on for %v, want ≤ 1 s", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the kicked reader's ffmpeg still runs 5 s later")
	}
	if code := call(t, srv, "DELETE", "/api/v1/sessions/"+udp.ID, "", "", nil); code != http.StatusNotFound {
		t.Errorf("DELETE of an ended session: %d, want 404", code)
	}

	tcp := <-readers["tcp"] // it decodes its 12 s
	if w := testenv.DecoderWarnings(tcp.d.Stderr); tcp.d.Err != nil || len(w) > 0 || tcp.d.Frames < testenv.MinFrames(11*time.Second) {
		t.Errorf("the RTSP reader over TCP: exit %v, %d pictures, warnings %q", tcp.d.Err, tcp.d.Frames, w)
	}
	for i := range pictures {
		if n := pictures[i].Load() - before[i]; n < int64(testenv.MinFrames(5*time.Second)) {
			t.Errorf("RTMP player %d got %d pictures after the kick, want those of the seconds since", i, n)
		}
	}
	if n := len(sessions(t, srv)); n != 5 {
		t.Errorf("%d sessions after the RTSP readers left, want the publisher, 3 players and the browser: %+v", n, sessions(t, srv))
	}

	// Ending the stream's publisher hangs up on ffmpeg; the stream waits out its grace window.
	if code := call(t, srv, "DELETE", "/api/v1/streams/live/c", "", "", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE /api/v1/streams/live/c: %d", code)
	}
	if err := publisher.Wait(3 * time.Second); !publisher.Exited() {
		t.Fatalf("the publisher's ffmpeg still runs: %v", err)
	}
	if st, err := srv.Relays.Lookup("live/c"); err != nil || st.Stats().Publishing {
		t.Errorf("live/c after its publisher was ended: %v, publishing %v; want it in its grace window", err, err == nil && st.Stats().Publishing)
	}
	if code := call(t, srv, "DELETE", "/api/v1/streams/live/c", "", "", nil); code != http.StatusNotFound {
		t.Errorf("DELETE of a stream without a publisher: %d, want 404", code)
	}
}

// Without an API key only loopback clients may use the control API; with one, every other
// client must give it, and loopback clients too with api_key_loopback.
func TestControlAPIKey(t *testing.T) {
	t.Run("none", testNoAPIKey)
	t.Run("key", testAPIKey)
	t.Run("loopback", testAPIKeyOnLoopback)
}

func testNoAPIKey(t *testing.T) {
	open := controlServer(t, nil)
	if code := call(t, open, "GET", "/api/v1/sessions", "", "", nil); code != http.StatusOK {
		t.Errorf("loopback, no key set: %d, want 200", code)
	}
	if code := call(t, open, "GET", "/api/v1/sessions", "192.0.2.7", "", nil); code != http.StatusForbidden {
		t.Errorf("remote, no key set: %d, want 403", code)
	}
	if code := call(t, open, "GET", "/api/v1/streams", "192.0.2.7", "", nil); code != http.StatusOK {
		t.Errorf("the public stream list from a remote client: %d, want 200", code)
	}
}

func testAPIKey(t *testing.T) {
	keyed := controlServer(t, func(c *conf.Config) { c.APIKey = "s3cret" })
	for _, c := range []struct {
		client, key string
		want        int
	}{
		{"192.0.2.7", "", http.StatusUnauthorized},
		{"192.0.2.7", "wrong", http.StatusUnauthorized},
		{"192.0.2.7", "s3cret", http.StatusOK},
		{"", "", http.StatusOK},
		{"::1", "", http.StatusOK},
	} {
		if code := call(t, keyed, "GET", "/api/v1/sessions", c.client, c.key, nil); code != c.want {
			t.Errorf("client %q key %q: %d, want %d", c.client, c.key, code, c.want)
		}
	}
	var cfg map[string]any
	if code := call(t, keyed, "GET", "/api/v1/config", "", "", &cfg); code != http.StatusOK || cfg["api_key"] != "(set)" || cfg["rtmp"] == nil {
		t.Errorf("GET /api/v1/config: %d, api_key %v rtmp %v: want the config with the key hidden", code, cfg["api_key"], cfg["rtmp"])
	}
}

func testAPIKeyOnLoopback(t *testing.T) {
	strict := controlServer(t, func(c *conf.Config) { c.APIKey, c.APIKeyLoopback = "s3cret", true })
	if code := call(t, strict, "DELETE", "/api/v1/sessions/1", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("loopback without the key under api_key_loopback: %d, want 401", code)
	}
	if code := call(t, strict, "DELETE", "/api/v1/sessions/1", "", "s3cret", nil); code != http.StatusNotFound {
		t.Errorf("loopback with the key, no such session: %d, want 404", code)
	}
}
