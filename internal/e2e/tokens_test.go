package e2e

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/internal/testkit/testenv"
)

// whepOffer is a pion player's offer for video, its candidates on loopback alone.
func whepOffer(t *testing.T) string {
	t.Helper()
	var se pwebrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	m := &pwebrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se), pwebrtc.WithMediaEngine(m)).NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// whepPlay offers to a WHEP URL (with a Basic login when user is set) and ends the session
// it gets; an error unless the offer was taken (201).
func whepPlay(ctx context.Context, srv *testenv.Server, whep, offer, user, pass string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, whep, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return &url.Error{Op: res.Status}
	}
	if loc := res.Header.Get("Location"); loc != "" {
		del, _ := http.NewRequest(http.MethodDelete, srv.HTTPURL(loc), nil)
		if r, err := http.DefaultClient.Do(del); err == nil {
			r.Body.Close()
		}
	}
	return nil
}

// Signed URLs and JSON Web Tokens (RS256 and ES256 through a JWKS, HS256) let viewers in on
// RTMP, RTSP, SRT, LL-HLS (the playlist's query signs its parts) and WHEP, and the expired,
// tampered and other-path ones are refused on each.
func TestSignedURLsAndTokensOnEveryProtocol(t *testing.T) {
	testenv.NeedTools(t, "ffprobe")
	iss := testenv.NewTokenIssuer(t)
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.URLSigningKey, c.JWTKey, c.JWTJWKS = "url-signing-key", iss.HSKey, iss.JWKSURL
	}})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("live/cam")) // from loopback: no key needed
	testenv.WaitLive(t, srv, "live/cam", 10*time.Second)
	hour := time.Now().Add(time.Hour)
	read := []string{"live/*"}
	tampered := access.SignURL("url-signing-key", "read", "live/cam", hour)
	tampered.Set("expires", tampered.Get("expires")+"9")
	jwtQuery := func(tok string) url.Values { return url.Values{"jwt": {tok}} }
	creds := []struct {
		name string
		q    url.Values
		ok   bool
	}{
		{"none", url.Values{}, false},
		{"signed URL", access.SignURL("url-signing-key", "read", "live/cam", hour), true},
		{"signed URL, expired", access.SignURL("url-signing-key", "read", "live/cam", time.Now().Add(-time.Second)), false},
		{"signed URL, tampered", tampered, false},
		{"signed URL, other path", access.SignURL("url-signing-key", "read", "live/other", hour), false},
		{"RS256", jwtQuery(iss.Token(t, "RS256", time.Hour, read, nil)), true},
		{"ES256", jwtQuery(iss.Token(t, "ES256", time.Hour, read, nil)), true},
		{"HS256", jwtQuery(iss.Token(t, "HS256", time.Hour, read, nil)), true},
		{"RS256, expired", jwtQuery(iss.Token(t, "RS256", -time.Minute, read, nil)), false},
		{"HS256, other path", jwtQuery(iss.Token(t, "HS256", time.Hour, []string{"live/other"}, nil)), false},
	}
	offer := whepOffer(t)
	probe := func(ctx context.Context, u string) error {
		return exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rw_timeout", "8000000", "-show_entries", "stream=codec_name", u).Run()
	}
	protocols := map[string]func(ctx context.Context, q url.Values) error{
		"rtmp": func(ctx context.Context, q url.Values) error { return probe(ctx, srv.URL("live/cam")+"?"+q.Encode()) },
		"rtsp": func(ctx context.Context, q url.Values) error {
			return probe(ctx, srv.RTSPURL("live/cam")+"?"+q.Encode())
		},
		"srt": func(ctx context.Context, q url.Values) error {
			return probe(ctx, srv.SRTURL(url.QueryEscape("read:live/cam?"+q.Encode())))
		},
		"hls": func(ctx context.Context, q url.Values) error {
			return probe(ctx, srv.HTTPURL("/live/cam/index.m3u8")+"?"+q.Encode())
		},
		"whep": func(ctx context.Context, q url.Values) error {
			return whepPlay(ctx, srv, srv.HTTPURL("/live/cam/whep")+"?"+q.Encode(), offer, "", "")
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for name, try := range protocols {
		wg.Go(func() {
			for _, c := range creds {
				if name == "srt" && strings.HasPrefix(c.name, "RS256") {
					continue // 600 bytes: past the 512 of an SRT stream id (ES256 and HS256 fit)
				}
				if err := try(ctx, c.q); (err == nil) != c.ok {
					t.Errorf("%s with %s: err %v, want allowed=%v", name, c.name, err, c.ok)
				}
			}
		})
	}
	wg.Wait()
}

// Users log in on each protocol in its own way (RTMP's and SRT's query, RTSP's Digest, HTTP's
// Basic for LL-HLS and WHEP) to read the paths their rights cover, and nobody else may.
func TestUsersLogInOnEveryProtocol(t *testing.T) {
	testenv.NeedTools(t, "ffprobe")
	srv := testenv.Start(t, testenv.Options{Conf: func(c *conf.Config) {
		c.Users = map[string]conf.User{
			"alice": {Password: "a-pass", Read: []string{"private/*"}},
			"bob":   {Password: "b-pass", Read: []string{"live/*"}},
		}
	}})
	testenv.PublishSampleWithoutBFrames(t, srv.URL("private/cam"))
	testenv.WaitLive(t, srv, "private/cam", 10*time.Second)
	offer := whepOffer(t)
	probe := func(ctx context.Context, u string) error {
		return exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rw_timeout", "8000000", "-show_entries", "stream=codec_name", u).Run()
	}
	withUser := func(raw, user, pass string) string {
		u, _ := url.Parse(raw)
		if user != "" {
			u.User = url.UserPassword(user, pass)
		}
		return u.String()
	}
	query := func(user, pass string) string {
		if user == "" {
			return ""
		}
		return "?" + url.Values{"user": {user}, "pass": {pass}}.Encode()
	}
	protocols := map[string]func(ctx context.Context, user, pass string) error{
		"rtmp": func(ctx context.Context, user, pass string) error {
			return probe(ctx, srv.URL("private/cam")+query(user, pass))
		},
		"srt": func(ctx context.Context, user, pass string) error {
			return probe(ctx, srv.SRTURL(url.QueryEscape("read:private/cam"+query(user, pass))))
		},
		"rtsp": func(ctx context.Context, user, pass string) error {
			return probe(ctx, withUser(srv.RTSPURL("private/cam"), user, pass))
		},
		"hls": func(ctx context.Context, user, pass string) error {
			return probe(ctx, withUser(srv.HTTPURL("/private/cam/index.m3u8"), user, pass))
		},
		"whep": func(ctx context.Context, user, pass string) error {
			return whepPlay(ctx, srv, srv.HTTPURL("/private/cam/whep"), offer, user, pass)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for name, try := range protocols {
		wg.Go(func() {
			for _, c := range []struct {
				user, pass string
				ok         bool
			}{{"alice", "a-pass", true}, {"alice", "wrong", false}, {"bob", "b-pass", false}, {"", "", false}} {
				if err := try(ctx, c.user, c.pass); (err == nil) != c.ok {
					t.Errorf("%s as %q/%q: err %v, want allowed=%v", name, c.user, c.pass, err, c.ok)
				}
			}
		})
	}
	wg.Wait()
}
