package webrtc

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	pwebrtc "github.com/pion/webrtc/v4"
)

// Errors of a PATCH (RFC 9725, 4.3), with the status it is answered with.
var (
	// ErrBadFragment is a body that is no trickle-ice-sdpfrag pion can use.
	ErrBadFragment = &statusError{http.StatusBadRequest, "not a usable trickle-ice-sdpfrag"}
	// ErrStaleSession is an If-Match that names another ICE session than the current one.
	ErrStaleSession = &statusError{http.StatusPreconditionFailed, "If-Match names an ICE session that is no longer current"}
)

// fragment is what a client's trickle-ice-sdpfrag says: its ICE credentials, and candidates
// with their m-line.
type fragment struct {
	ufrag, pwd string
	candidates []pwebrtc.ICECandidateInit
}

func parseFragment(b []byte) (fragment, error) {
	var f fragment
	var mid string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=candidate:"):
			m := mid
			f.candidates = append(f.candidates, pwebrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a="), SDPMid: &m})
		}
	}
	if (f.ufrag == "") != (f.pwd == "") || f.ufrag == "" && len(f.candidates) == 0 {
		return f, fmt.Errorf("%w: it has neither candidates nor both ICE credentials", ErrBadFragment)
	}
	return f, nil
}

// patch applies a client's fragment to pc: new ICE credentials restart ICE (the returned
// fragment carries the server's new ones and its candidates), and its candidates are added.
func patch(ctx context.Context, pc *pwebrtc.PeerConnection, frag fragment, s *Server) ([]byte, error) {
	var out []byte
	remote := pc.RemoteDescription()
	if remote == nil {
		return nil, ErrNoSession
	}
	if frag.ufrag != "" && !strings.Contains(remote.SDP, "a=ice-ufrag:"+frag.ufrag+"\r\n") {
		offer := pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeOffer, SDP: withCredentials(remote.SDP, frag.ufrag, frag.pwd)}
		if err := pc.SetRemoteDescription(offer); err != nil {
			return nil, fmt.Errorf("%w: ICE restart: %v", ErrBadFragment, err)
		}
		answer, err := answer(ctx, pc, s.cfg.GatherTimeout)
		if err != nil {
			return nil, err
		}
		out = answerFragment(string(answer))
	}
	for _, c := range frag.candidates {
		if err := pc.AddICECandidate(c); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadFragment, err)
		}
	}
	return out, nil
}

// withCredentials is an SDP with every ICE credential replaced and no candidate: the offer
// of a client that restarts ICE, which sends its candidates alongside.
func withCredentials(sdp, ufrag, pwd string) string {
	var b strings.Builder
	for line := range strings.Lines(sdp) {
		switch t := strings.TrimSpace(line); {
		case strings.HasPrefix(t, "a=ice-ufrag:"):
			b.WriteString("a=ice-ufrag:" + ufrag + "\r\n")
		case strings.HasPrefix(t, "a=ice-pwd:"):
			b.WriteString("a=ice-pwd:" + pwd + "\r\n")
		case strings.HasPrefix(t, "a=candidate:"), t == "a=end-of-candidates":
		default:
			b.WriteString(line)
		}
	}
	return b.String()
}

// answerFragment is the trickle-ice-sdpfrag of an answer: its BUNDLE group, and its first
// m-line (every m-line is bundled on it) with the ICE credentials and candidates.
func answerFragment(sdp string) []byte {
	var b strings.Builder
	media := 0
	for line := range strings.Lines(sdp) {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "m=") {
			media++
		}
		keep := strings.HasPrefix(t, "a=group:BUNDLE") && media == 0 ||
			media == 1 && (strings.HasPrefix(t, "m=") || strings.HasPrefix(t, "a=mid:") ||
				strings.HasPrefix(t, "a=ice-ufrag:") || strings.HasPrefix(t, "a=ice-pwd:") ||
				strings.HasPrefix(t, "a=candidate:") || t == "a=end-of-candidates")
		if keep {
			b.WriteString(t + "\r\n")
		}
	}
	return []byte(b.String())
}

// iceSession is a peer's ICE session as PATCH sees it: its ETag, which an ICE restart
// changes, and the order of its PATCHes.
type iceSession struct {
	mu   sync.Mutex
	etag string // quoted, as the header carries it
}

// Patch applies a WHEP or WHIP PATCH to session id at path (RFC 9725, 4.3): candidates the
// client trickles, or an ICE restart when it sends new credentials. ifMatch is the request's
// If-Match ("" for none). It returns the server's fragment of a restart (nil otherwise) and
// the session's ETag.
func (s *Server) Patch(ctx context.Context, path, id, ifMatch string, body []byte) (frag []byte, etag string, err error) {
	s.mu.Lock()
	p := s.peers[id]
	s.mu.Unlock()
	if p == nil || p.Path() != path {
		return nil, "", ErrNoSession
	}
	f, err := parseFragment(body)
	if err != nil {
		return nil, "", err
	}
	pc, ice := p.ice()
	ice.mu.Lock()
	defer ice.mu.Unlock()
	if ifMatch != "" && ifMatch != "*" && ifMatch != ice.etag {
		return nil, "", ErrStaleSession
	}
	if frag, err = patch(ctx, pc, f, s); err != nil {
		return nil, "", err
	}
	if frag != nil {
		tag, err := newID()
		if err != nil {
			return nil, "", err
		}
		ice.etag = strconv.Quote(tag)
	}
	return frag, ice.etag, nil
}
