package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	pwebrtc "github.com/pion/webrtc/v4"
)

// whepAPI is the one pion API of the WHEP players: H.264 alone (the picture is what is
// measured), loopback alone, no interceptors (a player that only counts pictures needs no
// reports; a browser would send them, and NACKs, at a cost to itself, not to the server).
func whepAPI() (*pwebrtc.API, error) {
	m := &pwebrtc.MediaEngine{}
	if err := m.RegisterCodec(pwebrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: pwebrtc.RTPCodecCapability{
		MimeType: pwebrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}, pwebrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	var se pwebrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	return pwebrtc.NewAPI(pwebrtc.WithMediaEngine(m), pwebrtc.WithSettingEngine(se)), nil
}

// playWHEP plays the stream over WHEP and measures what the other players measure: time to
// the first IDR picture (from the offer), pictures received, the delay of each since the
// publisher sent it (from a second after the first).
func (v *viewer) playWHEP(ctx context.Context, api *pwebrtc.API, url string, clk *clock, measuring *atomic.Bool) {
	start := time.Now()
	pc, err := api.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		v.err = err
		return
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo,
		pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		v.err = err
		return
	}
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) { v.readWHEP(ctx, tr, start, clk, measuring) })
	location, err := offerWHEP(ctx, pc, url)
	if err != nil {
		v.err = err
		return
	}
	<-ctx.Done()
	req, err := http.NewRequest(http.MethodDelete, location, nil)
	if err == nil {
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}
}

// offerWHEP posts pc's offer, with every candidate, and takes the answer; it returns the
// session's URL.
func offerWHEP(ctx context.Context, pc *pwebrtc.PeerConnection, url string) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	<-gathered
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("whep: %s: %s", res.Status, strings.TrimSpace(string(answer)))
	}
	loc, err := res.Location()
	if err != nil {
		return "", fmt.Errorf("whep: %w", err)
	}
	return loc.String(), pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: string(answer)})
}

// readWHEP depacketizes the video track into pictures until the connection ends.
func (v *viewer) readWHEP(ctx context.Context, tr *pwebrtc.TrackRemote, start time.Time, clk *clock, measuring *atomic.Bool) {
	dec, err := (&format.H264{PayloadTyp: uint8(tr.PayloadType()), PacketizationMode: 1}).CreateDecoder()
	if err != nil {
		v.err = err
		return
	}
	for ctx.Err() == nil {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		nalus, err := dec.Decode(pkt)
		if errors.Is(err, rtph264.ErrMorePacketsNeeded) {
			continue
		}
		if err != nil || len(nalus) == 0 {
			v.broken.Add(1)
			continue
		}
		now := time.Now()
		if v.ttff == 0 {
			if !hasIDR(nalus) {
				v.badStart = true
				continue
			}
			v.ttff = now.Sub(start)
		}
		if !measuring.Load() {
			continue
		}
		v.frames.Add(1)
		// A viewer that starts at the latest keyframe gets the GOP so far at once: its delay
		// counts from the second after (MediaMTX's viewers wait for the next keyframe instead,
		// which the first frame's time shows).
		if now.Sub(start) < v.ttff+time.Second {
			continue
		}
		if sent, ok := clk.pictureAt(pictureKey(nalus[len(nalus)-1])); ok && len(v.delays) < 4096 {
			v.delays = append(v.delays, now.Sub(sent))
		}
	}
}
