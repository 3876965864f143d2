package session

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/relaycast/relaycast/relay"
)

func TestViewerJoinsAndLeavesWithOneLineEach(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	var tb Table
	kicked := 0
	v := tb.Join(log, Info{Protocol: "srt", Path: "live/a", Remote: "127.0.0.1:1", Transport: "MPEG-TS"},
		func() uint64 { return 7 }, func() { kicked++ })
	if got := tb.Viewers("live/a"); got != 1 || v.Kind != Read {
		t.Fatalf("after Join: %d viewers of live/a, kind %q; want 1 reader", got, v.Kind)
	}
	if !v.Kick() || kicked != 1 {
		t.Fatalf("Kick called the viewer's kick %d times", kicked)
	}
	v.Leave(fmt.Errorf("write: %w", syscall.EPIPE), "link", "stats")
	if got := tb.Viewers("live/a"); got != 0 {
		t.Fatalf("after Leave: %d viewers", got)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{`msg="viewer join" path=live/a protocol=srt remote=127.0.0.1:1 transport=MPEG-TS`,
		`msg="viewer leave" path=live/a protocol=srt remote=127.0.0.1:1 transport=MPEG-TS dropped_frames=7 reason="viewer left" link=stats`}
	if len(lines) != 2 || !strings.HasSuffix(lines[0], want[0]) || !strings.HasSuffix(lines[1], want[1]) {
		t.Fatalf("log:\n%s\nwant lines ending\n%s", out.String(), strings.Join(want, "\n"))
	}
}

func TestReasonNamesHowAViewerEnded(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "viewer left"},
		{fmt.Errorf("teardown: %w", ErrLeft), "viewer left"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "viewer left"},
		{relay.ErrEnded, "stream ended"},
		{ErrKicked, ErrKicked.Error()},
		{fmt.Errorf("send: %w", relay.ErrTooSlow), "send: " + relay.ErrTooSlow.Error()},
		{errors.New("something else"), "something else"},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
