package rtmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"

	"log/slog"
)

// csidReply is where the handler's own replies through go-rtmp go (status before a refusal).
const csidReply = 5

// handler is one connection's session. go-rtmp calls it from the connection's read goroutine,
// except OnClose, which may come from the server closing.
type handler struct {
	gortmp.DefaultHandler
	srv *Server
	c   *conn
	lib *gortmp.Conn
	log *slog.Logger
	app string
	// query of the connect command's app ("live?key=..."), where some encoders put the key
	appQuery url.Values

	// fourCCs are the codecs the client announced in its connect command (enhanced RTMP's
	// fourCcList), which go-rtmp does not keep.
	fourCCs []string

	pub    *publishSession
	sess   *session.Session // the publisher's
	viewer *viewer          // set once play is answered; the connection is then the viewer's
	// publishID is the message stream of an active publish + 1 (0: none), for Shutdown,
	// which runs on another goroutine.
	publishID atomic.Uint32
}

// publishing reports the message stream id of an active publish.
func (h *handler) publishing() (uint32, bool) {
	id := h.publishID.Load()
	return id - 1, id != 0
}

// heard is told of each command the client sends before it plays (the guard parses them
// first): it keeps the codecs a connect command announces.
func (h *handler) heard(name string, body []byte) {
	if name == "connect" {
		h.fourCCs = fourCCList(body)
	}
}

func (h *handler) OnServe(lib *gortmp.Conn) {
	h.lib = lib
	h.c.readIdle = h.srv.cfg.ReadTimeout // handshake done: from now on, the idle deadline
	// Big chunks: fewer headers and write vectors per frame. Set our side first so the
	// writer goroutine, which reads it after taking the message from its queue, sees it.
	size := uint32(h.srv.cfg.ChunkSize)
	if err := lib.GetChunkStreamer().SelfState().SetChunkSize(size); err == nil {
		_ = h.libWriteStream(0, 2, &message.SetChunkSize{ChunkSize: size})
	}
}

func (h *handler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	app, query, _ := strings.Cut(cmd.Command.App, "?")
	h.app = strings.Trim(app, "/")
	h.appQuery, _ = url.ParseQuery(query)
	h.log.Debug("rtmp connect", "app", h.app, "tcUrl", cmd.Command.TCURL, "flashVer", cmd.Command.FlashVer)
	return nil
}

// request turns a publish or play name into an access request: the relay path from the
// connect app and the name, and the query (where the stream key goes) of both.
func (h *handler) request(name string) access.Request {
	name, query, _ := strings.Cut(name, "?")
	q, _ := url.ParseQuery(query)
	for k, v := range h.appQuery {
		if _, ok := q[k]; !ok {
			q[k] = v
		}
	}
	path := h.app + "/" + name
	if name == "" { // the whole path in the app (rtmp://host/live/NAME with no stream name)
		path = h.app
	}
	return access.Request{Protocol: "rtmp", Path: path, Addr: h.c.RemoteAddr(), Query: q}
}

func (h *handler) OnPublish(ctx *gortmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	req := h.request(cmd.PublishingName)
	path := req.Path
	if h.pub != nil || h.viewer != nil {
		return fmt.Errorf("rtmp publish %s: connection already has a session", path)
	}
	if a := h.srv.cfg.Access; a != nil {
		if err := a.AllowPublish(context.Background(), req); err != nil {
			h.log.Warn("publish refused", "path", path, "err", err)
			h.srv.refusals.Add("publish", access.Reason(err))
			_ = h.status(ctx.StreamID, statusPublishBadName.with(err.Error()))
			return fmt.Errorf("rtmp publish %s: %w", path, err)
		}
	}
	pub, err := h.srv.relays.Publish(path)
	if err != nil {
		h.log.Warn("publish refused", "path", path, "err", err)
		h.srv.refusals.Add("publish", access.Reason(err))
		_ = h.status(ctx.StreamID, statusPublishBadName.with(err.Error()))
		return fmt.Errorf("rtmp publish %s: %w", path, err)
	}
	pub.SetProtocol("rtmp")
	h.pub = newPublishSession(pub, h.log.With("path", path))
	h.sess = h.srv.cfg.Sessions.Open(session.Info{Protocol: "rtmp", Kind: session.Publish, Path: path, Remote: h.c.RemoteAddr().String()})
	h.sess.CountFrom(func() session.Counts { return session.Counts{BytesIn: h.c.in.Load()} })
	h.sess.OnKick(func() { _ = h.c.Conn.Close() })
	h.publishID.Store(ctx.StreamID + 1)
	h.log.Info("publish start", "path", path)
	return nil
}

func (h *handler) OnSetDataFrame(_ uint32, data *message.NetStreamSetDataFrame) error {
	if h.pub != nil {
		h.pub.metadata(data.Payload)
	}
	return nil
}

func (h *handler) OnVideo(ts uint32, payload io.Reader) error {
	if h.pub == nil {
		return nil
	}
	return h.pub.video(ts, payload)
}

func (h *handler) OnAudio(ts uint32, payload io.Reader) error {
	if h.pub == nil {
		return nil
	}
	return h.pub.audio(ts, payload)
}

func (h *handler) OnFCUnpublish(uint32, *message.NetStreamFCUnpublish) error {
	h.endPublish()
	return nil
}

func (h *handler) OnDeleteStream(uint32, *message.NetStreamDeleteStream) error {
	h.endPublish()
	return nil
}

func (h *handler) OnPlay(ctx *gortmp.StreamContext, _ uint32, cmd *message.NetStreamPlay) error {
	req := h.request(cmd.StreamName)
	path := req.Path
	if h.pub != nil || h.viewer != nil {
		return fmt.Errorf("rtmp play %s: connection already has a session", path)
	}
	if a := h.srv.cfg.Access; a != nil {
		if err := a.AllowRead(req); err != nil {
			h.log.Info("play refused", "path", path, "err", err)
			h.srv.refusals.Add("play", access.Reason(err))
			_ = h.status(ctx.StreamID, statusPlayFailed.with(err.Error()))
			return fmt.Errorf("rtmp play %s: %w", path, err)
		}
	}
	reader, vod, err := h.source(path, req.Query.Get("key"), cmd.Start)
	if err != nil {
		h.log.Info("play refused", "path", path, "err", err)
		h.srv.refusals.Add("play", access.Reason(err))
		_ = h.status(ctx.StreamID, statusPlayNotFound.with(fmt.Sprintf("%s is not live or stored", path)))
		return fmt.Errorf("rtmp play %s: %w", path, err)
	}
	h.c.quiet()
	_ = h.libWriteStream(0, 2, &message.UserCtrl{Event: &message.UserCtrlEventStreamBegin{StreamID: ctx.StreamID}})
	// The reader starts now, at the GOP cache. go-rtmp answers NetStream.Play.Start after we
	// return, then finds the connection detached and ends its session, waiting for its writes
	// to finish: the shard's media follow the answer.
	h.viewer = newViewer(h.c, reader, vod, ctx.StreamID, h.srv.cfg.ChunkSize, h.log)
	for _, c := range format.FLVEnhanced {
		if fourCC, _ := format.FLVFourCC(c); slices.Contains(h.fourCCs, fourCC) || slices.Contains(h.fourCCs, "*") {
			h.viewer.codecs |= 1 << c
		}
	}
	h.viewer.open(h.srv.cfg.Sessions)
	h.c.detach(func() {
		<-h.lib.GetChunkStreamer().Done()
		h.lib = nil // its buffers (over 70 KiB) are the bulk of an idle session
		// The shard writes without deadlines; only a write it cannot finish at once has one.
		_ = h.c.Conn.SetWriteDeadline(time.Time{})
		h.srv.attach(h.viewer)
	})
	for _, t := range h.viewer.stream.Tracks() {
		fourCC, enhanced := format.FLVFourCC(t.Codec)
		switch {
		case h.viewer.gets(t.Codec):
		case enhanced:
			h.log.Warn("track not sent to an RTMP player: "+t.Codec.String()+" goes to players that announce "+fourCC+" in the fourCcList of their connect (enhanced RTMP)",
				"path", path, "codec", t.Codec, "fourCcList", h.fourCCs)
		default:
			h.log.Warn("track not sent to an RTMP player: RTMP here carries H.264, H.265, AV1, VP9, AAC and Opus", "path", path, "codec", t.Codec)
		}
	}
	return nil
}

// source finds what a player asked for and starts its reader: on a live stream at the GOP
// cache, or, under vod/, on a stored file played to this viewer alone from start
// (milliseconds; a negative start, as players send for "live or recorded", is the
// beginning).
func (h *handler) source(path, key string, start int64) (*relay.Reader, *stored, error) {
	name, isStored := strings.CutPrefix(path, relay.StoredPrefix)
	if !isStored || h.srv.cfg.Stored == nil {
		s, err := h.srv.relays.Demand(context.Background(), path, key)
		if err != nil {
			return nil, nil, err
		}
		return s.NewReader(), nil, nil
	}
	return playStored(h.srv.cfg.Stored, name, millis(float64(start)))
}

func (h *handler) OnClose() {
	h.endPublish()
	if h.viewer == nil {
		h.srv.forget(h.c)
	} // else the viewer's shard forgets the connection when the player leaves
}

func (h *handler) endPublish() {
	h.publishID.Store(0)
	if h.pub != nil && h.pub.close() {
		h.sess.Close(nil)
		h.log.Info("publish stop", "path", h.pub.pub.Stream().Path(), "frames", h.pub.frames)
	}
}

// status sends an onStatus through go-rtmp, for replies on the read goroutine.
func (h *handler) status(streamID uint32, s status) error {
	return h.libWriteStream(streamID, csidReply, &message.CommandMessage{
		CommandName: "onStatus",
		Encoding:    message.EncodingTypeAMF0,
		Body:        bytes.NewReader(s.args()),
	})
}

func (h *handler) libWriteStream(streamID uint32, csid int, msg message.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.srv.cfg.WriteTimeout)
	defer cancel()
	err := h.lib.Write(ctx, csid, 0, &gortmp.ChunkMessage{StreamID: streamID, Message: msg})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("rtmp write: %w", err)
	}
	return err
}
