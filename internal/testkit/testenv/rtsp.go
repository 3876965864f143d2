package testenv

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/conn"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/sdp"
)

// RTSPPlayer is a bare RTSP client over TCP, for tests that need to send what a library
// client does not (a PLAY without Range, keep-alives): requests written by hand, replies
// and packets read with gortsplib's parser.
type RTSPPlayer struct {
	Conn    net.Conn
	In      *conn.Conn
	URL     string
	Session string
	cseq    int
}

// DialRTSP connects to addr for path; the connection closes when the test ends.
func DialRTSP(t testing.TB, addr, path string) *RTSPPlayer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &RTSPPlayer{Conn: nc, In: conn.NewConn(bufio.NewReader(nc), nc), URL: "rtsp://" + addr + "/" + path}
}

// SetupAll describes the path and sets up each media, media i on channels 2i and 2i+1.
func (p *RTSPPlayer) SetupAll(t testing.TB) {
	t.Helper()
	res := p.Request(t, "DESCRIBE", "Accept: application/sdp")
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(res.Body); err != nil {
		t.Fatal(err)
	}
	var desc description.Session
	if err := desc.Unmarshal(&sd); err != nil {
		t.Fatal(err)
	}
	for i, m := range desc.Medias {
		p.Setup(t, m.Control, 2*i)
	}
}

// Setup sets up the media of the control attribute on channels ch and ch+1.
func (p *RTSPPlayer) Setup(t testing.TB, control string, ch int) {
	t.Helper()
	res := p.Request(t, "SETUP "+p.URL+"/"+control, fmt.Sprintf("Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d", ch, ch+1))
	if res.StatusCode != base.StatusOK || len(res.Header["Session"]) == 0 {
		t.Fatalf("SETUP %s: %d", control, res.StatusCode)
	}
	p.Session, _, _ = strings.Cut(res.Header["Session"][0], ";")
}

// Request sends method (with the path's URL if it has none) and the session, and returns
// the reply, skipping the packets that come before it.
func (p *RTSPPlayer) Request(t testing.TB, method string, hdr ...string) *base.Response {
	t.Helper()
	p.cseq++
	if !strings.Contains(method, " ") {
		method += " " + p.URL
	}
	if p.Session != "" {
		hdr = append(hdr, "Session: "+p.Session)
	}
	req := fmt.Sprintf("%s RTSP/1.0\r\nCSeq: %d\r\n", method, p.cseq)
	for _, h := range hdr {
		req += h + "\r\n"
	}
	if _, err := p.Conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = p.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = p.Conn.SetReadDeadline(time.Time{}) }()
	for {
		what, err := p.In.Read()
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if res, ok := what.(*base.Response); ok {
			if got := res.Header["CSeq"]; len(got) != 1 || got[0] != fmt.Sprint(p.cseq) {
				t.Fatalf("%s: reply with CSeq %q, want %d", method, got, p.cseq)
			}
			return res
		}
	}
}

// NextPacket returns the next RTP packet on channel ch.
func (p *RTSPPlayer) NextPacket(t testing.TB, ch int) []byte {
	t.Helper()
	_ = p.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = p.Conn.SetReadDeadline(time.Time{}) }()
	for {
		what, err := p.In.Read()
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := what.(*base.InterleavedFrame); ok && f.Channel == ch && len(f.Payload) >= 12 {
			return f.Payload
		}
	}
}
