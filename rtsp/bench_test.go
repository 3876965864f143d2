package rtsp

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// benchFrame is one 4000-byte H.264 slice: three RTP packets, sent over TCP interleaved as
// 4053 bytes (3999 of NAL unit after its header, 3 × 14 of RTP and FU-A headers, 3 × 4 of
// interleaved framing).
const (
	benchNALU      = 4000
	benchWireBytes = benchNALU - 1 + 3*(12+2) + 3*4
)

// BenchmarkRTSPFanOut measures what each RTSP session costs per frame: the feed packetizes a
// frame once into the interleaved stream, and each TCP viewer writes it over loopback TCP. Readers are raw sockets reading into one buffer each, so every allocation counted is
// the server's. The frame rate follows the slowest reader: no packet is dropped.
func BenchmarkRTSPFanOut(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) { benchRTSP(b, n) })
	}
}

func benchRTSP(b *testing.B, n int) {
	rc := relay.DefaultConfig()
	rc.Grace = 0
	g := relay.NewRegistry(rc)
	defer g.Close()
	pub, err := g.Publish("live/bench")
	if err != nil {
		b.Fatal(err)
	}
	video := &relay.Track{Codec: relay.CodecH264, ClockRate: 90000, Config: h264Record}
	key := nalu(benchNALU, 1)
	key[0] = 0x65 // IDR
	write := func(i int, payload []byte, isKey bool) {
		d := time.Duration(i) * time.Second / 30
		if err := pub.WriteFrame(&relay.Frame{Track: video, DTS: d, PTS: d, Key: isKey, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	write(0, avcc(key), true)

	cfg := DefaultConfig()
	cfg.RTPPort = 0
	srv := New(cfg, g, slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() { srv.Close(); <-served }()

	readers := make([]*rawReader, n)
	for i := range readers {
		if readers[i], err = playTCP(l.Addr().String(), "live/bench"); err != nil {
			b.Fatal(err)
		}
		defer readers[i].close()
	}
	base := settle(readers)
	frame := avcc(nalu(benchNALU, 2))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	start := ms.Mallocs
	b.ReportAllocs()
	b.SetBytes(benchWireBytes * int64(n))
	i := 0
	for b.Loop() {
		i++
		write(i, frame, false)
		for r, rd := range readers {
			for rd.bytes.Load() < base[r]+int64(i*benchWireBytes) {
				if rd.done.Load() {
					b.Fatalf("reader %d: %v", r, rd.err)
				}
				runtime.Gosched()
			}
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Mallocs-start)/float64(i)/float64(n), "allocs/frame/session")
}

// settle waits until the readers have had the joining burst, and returns what each read.
func settle(readers []*rawReader) []int64 {
	base := make([]int64, len(readers))
	for {
		changed := false
		for i, r := range readers {
			if v := r.bytes.Load(); v != base[i] || v == 0 {
				base[i], changed = v, true
			}
		}
		if !changed {
			return base
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawReader is an RTSP player over TCP that only counts what it receives.
type rawReader struct {
	conn  net.Conn
	bytes atomic.Int64
	done  atomic.Bool
	err   error
}

func (r *rawReader) close() { r.conn.Close() }

// playTCP sends DESCRIBE, SETUP (interleaved) for each media and PLAY, then reads for ever.
func playTCP(addr, path string) (*rawReader, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	url := "rtsp://" + addr + "/" + path
	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	cseq := 0
	do := func(method, target string, hdr ...string) (textproto.MIMEHeader, string, error) {
		cseq++
		req := fmt.Sprintf("%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n", method, target, cseq, strings.Join(hdr, ""))
		if _, err := io.WriteString(conn, req); err != nil {
			return nil, "", err
		}
		status, err := tp.ReadLine()
		if err != nil {
			return nil, "", err
		}
		if !strings.Contains(status, " 200 ") {
			return nil, "", fmt.Errorf("%s: %s", method, status)
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return nil, "", err
		}
		var body []byte
		if n := h.Get("Content-Length"); n != "" {
			var size int
			fmt.Sscan(n, &size)
			body = make([]byte, size)
			if _, err := io.ReadFull(br, body); err != nil {
				return nil, "", err
			}
		}
		return h, string(body), nil
	}
	_, sdp, err := do("DESCRIBE", url, "Accept: application/sdp\r\n")
	if err != nil {
		conn.Close()
		return nil, err
	}
	session := ""
	ch := 0
	inMedia := false
	for _, line := range strings.Split(sdp, "\r\n") {
		inMedia = inMedia || strings.HasPrefix(line, "m=")
		control, ok := strings.CutPrefix(line, "a=control:")
		if !ok || !inMedia {
			continue
		}
		hdr := []string{fmt.Sprintf("Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n", ch, ch+1)}
		if session != "" {
			hdr = append(hdr, "Session: "+session+"\r\n")
		}
		h, _, err := do("SETUP", url+"/"+control, hdr...)
		if err != nil {
			conn.Close()
			return nil, err
		}
		session, _, _ = strings.Cut(h.Get("Session"), ";")
		ch += 2
	}
	if _, _, err := do("PLAY", url+"/", "Session: "+session+"\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	r := &rawReader{conn: conn}
	go func() {
		defer r.done.Store(true)
		buf := make([]byte, 64<<10)
		if n := br.Buffered(); n > 0 {
			m, _ := br.Read(buf[:n])
			r.bytes.Add(int64(m))
		}
		for {
			m, err := conn.Read(buf)
			r.bytes.Add(int64(m))
			if err != nil {
				r.err = err
				return
			}
		}
	}()
	return r, nil
}
