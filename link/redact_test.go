package link

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedactHidesSecrets(t *testing.T) {
	for _, raw := range []string{"rtmp://user:secret@host/live/x", "srt://host:9000?streamid=publish:live/x&passphrase=secret123",
		"rtmp://host/live/x?key=secret"} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := redact(u); strings.Contains(got, "secret") || !strings.Contains(got, "host") {
			t.Errorf("redact(%s) = %s", raw, got)
		}
	}
	if got := redact(&url.URL{Scheme: "srt", Host: "h:1", RawQuery: "streamid=publish:live/x"}); got != "srt://h:1?streamid=publish:live/x" {
		t.Errorf("a URL without secrets changed: %s", got)
	}
}
