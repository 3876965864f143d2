package app

import (
	"github.com/relaycast/relaycast/internal/conf"
	"github.com/relaycast/relaycast/ladder"
	"github.com/relaycast/relaycast/metrics"
	"github.com/relaycast/relaycast/player/hls"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/web"
	"github.com/relaycast/relaycast/webrtc"
)

// ladderConfig is the ladders of cfg's paths (validated).
func ladderConfig(cfg conf.Config) ladder.Config {
	c := ladder.DefaultConfig()
	c.Encoder, c.CloseAfter = cfg.LadderEncoder, cfg.LadderCloseAfter
	for path, p := range cfg.Paths {
		if rungs, _ := ladder.ParseLadder(p.Renditions); len(rungs) > 0 {
			if c.Ladders == nil {
				c.Ladders = map[string][]ladder.Rung{}
			}
			c.Ladders[path] = rungs
		}
	}
	return c
}

// sourcers asks each in turn for a path nobody publishes: the ladders (renditions made
// here), then the links (pulls, origins).
type sourcers []relay.Sourcer

func (s sourcers) Demand(path, key string) bool {
	for _, src := range s {
		if src.Demand(path, key) {
			return true
		}
	}
	return false
}

// hlsRungs are the rungs of main's ladder HLS lists.
func hlsRungs(l *ladder.Manager) func(main *relay.Stream) []hls.Rung {
	return func(main *relay.Stream) []hls.Rung {
		var out []hls.Rung
		for _, r := range l.Rungs(main) {
			out = append(out, hls.Rung{Label: r.Label(), Height: r.Height, Bitrate: r.Kbps * 1000, Codecs: r.Codecs()})
		}
		return out
	}
}

// webrtcRungs are the rungs of main's ladder a WHEP viewer of main may be switched to.
func webrtcRungs(l *ladder.Manager) func(main *relay.Stream) []webrtc.Layer {
	return func(main *relay.Stream) []webrtc.Layer {
		var out []webrtc.Layer
		for _, r := range l.Rungs(main) {
			out = append(out, webrtc.Layer{Path: main.Path() + relay.RenditionSep + r.Label(), Bitrate: r.Kbps * 1000})
		}
		return out
	}
}

// webRungs are the rungs of main's ladder the stream list shows, at the size they will be.
func webRungs(l *ladder.Manager) func(main *relay.Stream) []web.LadderRung {
	return func(main *relay.Stream) []web.LadderRung {
		var out []web.LadderRung
		video, _ := relay.FirstTracks(main.Tracks(), nil)
		for _, r := range l.Rungs(main) {
			w := 0
			if video != nil && video.Height > 0 {
				w = (r.Height*video.Width + video.Height) / (2 * video.Height) * 2 // as ffmpeg's scale=-2:H
			}
			out = append(out, web.LadderRung{Label: r.Label(), Width: w, Height: r.Height, Kbps: r.Kbps})
		}
		return out
	}
}

// ladderMetrics is what the rungs have cost.
func ladderMetrics(l *ladder.Manager) func() []metrics.Rung {
	return func() []metrics.Rung {
		var out []metrics.Rung
		for _, st := range l.Stats() {
			out = append(out, metrics.Rung{Path: st.Main, Rung: st.Rung.String(), Encoder: st.Encoder,
				Running: st.Running, CPU: st.CPU})
		}
		return out
	}
}
