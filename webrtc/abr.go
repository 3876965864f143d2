package webrtc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/relay"
)

// Layer is a rendition that runs only while watched (a ladder's rung): a WHEP viewer of its
// stream may be switched to it before it runs, which starts it.
type Layer struct {
	Path    string // APP/NAME~LABEL
	Bitrate int    // bits per second it will have, for the choice until it is measured
}

// switchable says whether a viewer of main may be switched between renditions: main has
// some published, or a ladder's rungs that would start on demand. Not a rendition's own
// viewer, who asked for that one.
func (s *Server) switchable(main *relay.Stream) bool {
	return !relay.IsRendition(main.Path()) && (len(main.Renditions()) > 0 || len(s.rungs(main)) > 0)
}

// rungs are main's ladder's rungs, running or not.
func (s *Server) rungs(main *relay.Stream) []Layer {
	if s.cfg.Rungs == nil {
		return nil
	}
	return s.cfg.Rungs(main)
}

// abrAPI is the API of one viewer whose layer follows its bandwidth: its packets carry
// transport-wide sequence numbers, and the peer's feedback on them drives a send-side
// estimate (GCC), which got gives. Viewers of one layer go without, at no cost.
func (s *Server) abrAPI(got *cc.BandwidthEstimator) (*pwebrtc.API, error) {
	s.mu.Lock()
	udpMux, tcpMux, ip := s.udpMux, s.tcpMux, s.ip
	s.mu.Unlock()
	if udpMux == nil {
		return nil, relay.ErrClosed
	}
	return s.newAPI(udpMux, tcpMux, ip, abrCodecs, func(m *pwebrtc.MediaEngine, ir *interceptor.Registry) error {
		f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
			// No pacer: a picture's packets still leave in one batch (batch.go), as the
			// browser's jitter buffer expects of a live source.
			return gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(initialEstimate),
				gcc.SendSideBWEPacer(gcc.NewNoOpPacer()), gcc.WithLoggerFactory(pionLogs(s.log)))
		})
		if err != nil {
			return err
		}
		f.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { *got = e })
		ir.Add(f) // before the sequence numbers' interceptor, so that it sees them
		return pwebrtc.ConfigureTWCCHeaderExtensionSender(m, ir)
	})
}

// initialEstimate is the estimate a viewer starts with: high, so that it starts at the layer
// it asked for and steps down only on the evidence of its feedback.
const initialEstimate = 20_000_000

// abrCodecs are viewerCodecs with transport-wide feedback, which browsers send only when
// the codec names it.
var abrCodecs = func() []engineCodec {
	out := slices.Clone(viewerCodecs)
	for i := range out {
		out[i].RTCPFeedback = append(slices.Clone(out[i].RTCPFeedback), pwebrtc.RTCPFeedback{Type: pwebrtc.TypeRTCPFBTransportCC})
	}
	return out
}()

// abr switches a viewer of a stream with renditions between them by its bandwidth: once a
// second it weighs the estimate against each layer's measured bitrate (chooser); a layer
// chosen is opened and takes over at its first keyframe after the last picture sent, so the
// picture goes on without a gap, a step back in time or a keyframe request.
type abr struct {
	v      *viewer
	main   *relay.Stream
	key    string // the viewer's, for a rung's demand
	bwe    cc.BandwidthEstimator
	codec  relay.Codec // the video the viewer negotiated
	path   string      // the layer sent
	choice chooser
	meters map[string]*meter
	ticked time.Time

	want      string            // the layer chosen, while it opens or waits to take over
	opening   bool              // a goroutine opens want
	ready     chan *layerReader // what it opened
	target    *layerReader      // opened, waiting for its keyframe
	misses    int               // the layer sent's keyframes at which target had none
	refused   map[string]time.Time
	wantUp    bool          // whether want is above the layer sent
	gated     bool          // the layer sent is fallen back to: no picture until its keyframe after lastVideo
	lastVideo time.Duration // PTS of the last picture sent
	lastAudio time.Duration
	sentAudio bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// layerReader is a layer opened for a viewer: its feed and a reader of the derived stream.
type layerReader struct {
	path   string
	feed   *feed
	reader *relay.Reader
	err    error
}

const (
	takeOverWait = time.Second      // at a keyframe of the layer sent, how long a lagging target may take to show its own
	maxMisses    = 5                // keyframes the target may miss before it is given up
	refuseFor    = 30 * time.Second // how long a layer that failed to open is left out
)

func newABR(v *viewer, main *relay.Stream, key string, bwe cc.BandwidthEstimator) *abr {
	a := &abr{v: v, main: main, key: key, bwe: bwe, codec: v.feed.videoCodec, path: main.Path(),
		meters: map[string]*meter{}, ready: make(chan *layerReader, 1), refused: map[string]time.Time{}}
	a.ctx, a.cancel = context.WithCancel(v.ctx)
	return a
}

// next returns the next frame to send: the layer sent's or, at a switch, the keyframe of the
// one taking over.
func (a *abr) next(ctx context.Context) (*relay.Frame, error) {
	v := a.v
	for {
		a.tick(time.Now())
		f := a.takeOver(ctx, nil)
		if f == nil {
			var err error
			if f, err = v.reader.Next(ctx); err != nil {
				if !errors.Is(err, relay.ErrEnded) || a.path == a.main.Path() || !a.fallBack(ctx) {
					return nil, err
				}
				continue
			}
			if f.Track.Codec.IsVideo() && f.Key && a.target != nil {
				if t := a.takeOver(ctx, f); t != nil {
					f = t
				}
			}
		}
		if f.Track.Codec.IsVideo() {
			if a.gated && !(f.Key && f.PTS > a.lastVideo) {
				continue // a layer fallen back to, until its keyframe after the last picture
			}
			a.gated, a.lastVideo = false, f.PTS
		} else {
			if a.sentAudio && f.PTS <= a.lastAudio {
				continue // the new layer's copy of sound already sent
			}
			a.lastAudio, a.sentAudio = f.PTS, true
		}
		return f, nil
	}
}

// takeOver reads the target for a keyframe after the last picture sent: at once what it
// has, or, given held (a keyframe of the layer sent), waiting for a target that lags (a
// rung, behind by its encoder) to reach held. It switches to the target and returns that
// keyframe, or returns nil.
func (a *abr) takeOver(ctx context.Context, held *relay.Frame) *relay.Frame {
	t := a.target
	if t == nil {
		return nil
	}
	wait := ctx
	if held != nil {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, takeOverWait)
		defer cancel()
	}
	for {
		var f *relay.Frame
		var err error
		if held != nil {
			f, err = t.reader.Next(wait)
		} else {
			f, err = t.reader.Poll()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			a.dropTarget()
			return nil
		}
		if f == nil {
			break
		}
		if f.Track.Codec.IsVideo() && f.Key && f.PTS > a.lastVideo {
			a.switchTo(t)
			return f
		}
		if held != nil && f.Track.Codec.IsVideo() && f.PTS >= held.PTS {
			break
		}
	}
	if held != nil {
		if a.misses++; a.misses >= maxMisses {
			a.dropTarget()
		}
	}
	return nil
}

// switchTo makes t the layer sent.
func (a *abr) switchTo(t *layerReader) {
	v := a.v
	v.srv.log.Info("webrtc layer", "path", a.main.Path(), "from", a.path, "to", t.path,
		"estimate_kbps", a.bwe.GetTargetBitrate()/1000)
	a.choice.switched(time.Now(), t.path == a.want && a.wantUp)
	v.droppedBefore.Add(v.reader.Dropped())
	v.reader.Close()
	v.reader, v.feed, a.path, a.target, a.want = t.reader, t.feed, t.path, nil, ""
	v.current.Store(t.reader)
	if v.video != nil {
		v.video.switchTo(&t.feed.videoHistory)
		ask := t.feed.src.RequestKeyframe
		v.video.askKey.Store(&ask)
	}
	if v.audio != nil {
		v.audio.switchTo(&t.feed.audioHistory)
	}
}

// fallBack goes back to the main stream when the layer sent ends before it: from its
// latest keyframe, whose pictures up to the last sent are skipped.
func (a *abr) fallBack(ctx context.Context) bool {
	a.dropTarget()
	t := a.open(ctx, a.main.Path())
	if t.err != nil {
		return false
	}
	a.switchTo(t)
	a.gated = true
	return true
}

func (a *abr) dropTarget() {
	if a.target != nil {
		a.target.reader.Close()
		a.target, a.want = nil, ""
	}
}

// tick takes what the opener opened and, once a second, chooses the layer.
func (a *abr) tick(now time.Time) {
	select {
	case t := <-a.ready:
		a.opening = false
		a.took(t, now)
	default:
	}
	if now.Sub(a.ticked) < time.Second {
		return
	}
	a.ticked = now
	if a.path != a.main.Path() {
		// The viewer's session is on the main path: asking for the rendition sent keeps
		// a ladder's rung running, as an HLS player's requests do.
		_, _ = a.v.srv.relays.Demand(a.ctx, a.path, a.key)
	}
	paths, rates := a.measure(now)
	cur := slices.Index(paths, a.path)
	if cur < 0 {
		return
	}
	to := a.choice.choose(now, a.bwe.GetTargetBitrate(), congested(a.bwe.GetStats()), rates, cur)
	want := paths[to]
	switch {
	case want == a.path:
		a.dropTarget()
		a.want = ""
	case want != a.want:
		a.dropTarget()
		a.want, a.wantUp = want, to > cur
		if !a.opening {
			a.opening = true
			a.wg.Go(func() {
				t := a.open(a.ctx, want)
				select {
				case a.ready <- t:
				case <-a.ctx.Done():
					if t.reader != nil {
						t.reader.Close()
					}
				}
			})
		}
	}
}

// took keeps a layer opened if it is still the one wanted.
func (a *abr) took(t *layerReader, now time.Time) {
	switch {
	case t.err != nil:
		a.v.srv.log.Warn("webrtc layer not opened", "path", a.main.Path(), "layer", t.path, "err", t.err)
		a.refused[t.path] = now
		a.want = ""
	case t.path != a.want:
		t.reader.Close()
	default:
		a.target, a.misses = t, 0
	}
}

// open opens the layer at path: its stream (a rung starts), its feed and a reader.
func (a *abr) open(ctx context.Context, path string) *layerReader {
	t := &layerReader{path: path}
	src, err := a.v.srv.relays.Demand(ctx, path, a.key)
	if err != nil {
		t.err = err
		return t
	}
	d, err := a.v.srv.feeds.Get(ctx, src)
	if err != nil {
		t.err = err
		return t
	}
	if f := d.Deriver; !f.hasVideo || f.videoCodec != a.codec {
		t.err = fmt.Errorf("its video (%s) is not the viewer's (%s)", f.describe(), a.codec)
		return t
	}
	t.feed, t.reader = d.Deriver, d.Stream().NewReader()
	src.RequestKeyframe() // a simulcast layer's publisher keys it now
	return t
}

// measure returns the layers, lowest bitrate first, with their bitrates; none until every
// running one has been measured.
func (a *abr) measure(now time.Time) (paths []string, rates []int) {
	type layer struct {
		path string
		rate int
	}
	var all []layer
	running := append([]*relay.Stream{a.main}, a.main.Renditions()...)
	for _, s := range running {
		m := a.meters[s.Path()]
		if m == nil {
			m = &meter{}
			a.meters[s.Path()] = m
		}
		m.sample(s.Stats().Bytes, now)
		all = append(all, layer{s.Path(), int(m.rate * rtpOverhead)})
	}
	for _, l := range a.v.srv.rungs(a.main) {
		if !slices.ContainsFunc(all, func(x layer) bool { return x.path == l.Path }) { // not running
			all = append(all, layer{l.Path, l.Bitrate})
		}
	}
	all = slices.DeleteFunc(all, func(l layer) bool {
		at, ok := a.refused[l.path]
		return ok && now.Sub(at) < refuseFor && l.path != a.path
	})
	for _, l := range all {
		if l.rate <= 0 {
			return nil, nil
		}
	}
	slices.SortFunc(all, func(x, y layer) int { return cmp.Compare(x.rate, y.rate) })
	for _, l := range all {
		paths, rates = append(paths, l.path), append(rates, l.rate)
	}
	return paths, rates
}

// rtpOverhead is what RTP, SRTP, UDP and IP headers add to a stream's bytes (about 54 on
// 1200).
const rtpOverhead = 1.05

// close stops the opener and lets go of what it opened.
func (a *abr) close() {
	a.cancel()
	a.wg.Wait()
	select {
	case t := <-a.ready:
		if t.reader != nil {
			t.reader.Close()
		}
	default:
	}
	a.dropTarget()
}

// meter measures a stream's bitrate from its byte count, sampled about once a second.
type meter struct {
	bytes uint64
	at    time.Time
	rate  float64 // bits per second, smoothed
}

func (m *meter) sample(bytes uint64, now time.Time) {
	if !m.at.IsZero() && bytes >= m.bytes {
		r := float64(bytes-m.bytes) * 8 / now.Sub(m.at).Seconds()
		if m.rate == 0 {
			m.rate = r
		} else {
			m.rate += (r - m.rate) / 3
		}
	}
	m.bytes, m.at = bytes, now
}

// congested says whether GCC's state shows the link congested: queues growing (its delay
// gradient over threshold), or packets lost (over a tenth, where its loss-based estimate
// goes down).
func congested(stats map[string]any) bool {
	loss, _ := stats["averageLoss"].(float64)
	return stats["usage"] == "overuse" || stats["state"] == "decrease" || loss > 0.1 // pion's names
}

// chooser picks a viewer's layer from its bandwidth estimate. It steps down when the link
// is congested, a second time within congestedFor, and the estimate is under the layer's
// bitrate, to the best layer the estimate carries. The estimate alone is no evidence:
// after a step up, GCC's climbs to the new layer's bitrate over seconds (8 % a second), and
// a lone spell of delay (a busy receiver) lowers it for a moment.
//
// It steps up only by trying the next layer, upWait after the last switch: GCC estimates no
// more than half again what it is sent, so a layer twice the bitrate shows it fits only
// when tried (and pion's estimate, on a link that carried 480p, once read 4.2 Mbit/s
// where 1.8 went through). A try comes back at its first congestion, and doubles the wait.
type chooser struct {
	wait      time.Duration // before the next try up
	congested [2]time.Time  // the last two ticks with the link congested, newest last
	moved     time.Time     // the last switch, or the start
	up        bool          // whether that switch went up: a try, until it holds
}

const (
	upWait       = 8 * time.Second
	maxUpWait    = 64 * time.Second
	congestedFor = 3 * time.Second  // how long a tick's congestion counts
	settle       = 2 * time.Second  // after a switch (or the start), how long congestion is not acted on
	heldFor      = 30 * time.Second // a try up that lasts this long has held
)

// choose returns the index of the layer to send, of rates (bits per second, lowest first)
// with cur sent, for estimate (bits per second) at now, with the link congested or not.
func (c *chooser) choose(now time.Time, estimate int, congested bool, rates []int, cur int) int {
	if c.wait == 0 {
		c.wait, c.moved = upWait, now
	}
	if congested {
		c.congested = [2]time.Time{c.congested[1], now}
	}
	trying := c.up && now.Sub(c.moved) < heldFor
	twice := !c.congested[0].IsZero() && now.Sub(c.congested[0]) < congestedFor && now.Sub(c.moved) >= settle
	if estimate < rates[cur] && (twice || trying && congested) {
		for i := cur - 1; i > 0; i-- {
			if rates[i] <= estimate {
				return i
			}
		}
		return 0
	}
	if c.up && !trying {
		c.wait = upWait // the last try has held
	}
	if cur+1 < len(rates) && now.Sub(c.moved) >= c.wait {
		return cur + 1
	}
	return cur
}

// switched notes a switch at now, up or down.
func (c *chooser) switched(now time.Time, up bool) {
	if c.wait == 0 {
		c.wait = upWait
	}
	if !up && c.up && now.Sub(c.moved) < heldFor {
		c.wait = min(2*c.wait, maxUpWait) // the try did not hold
	}
	c.moved, c.up = now, up
}
