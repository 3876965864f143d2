// The RTMP client: a player that hands out the messages the server sends as raw bodies,
// without copying them (the load tool runs thousands next to the server it measures), and a
// publisher of FLV tags. Links pull (Pull) and push (Dial, Publisher.Send) with it; tests and
// the load tool play and publish with Play and Publish.

package rtmp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"
)

// MessageKind says what a Message is.
type MessageKind int

// Message kinds.
const (
	VideoMsg MessageKind = iota + 1
	AudioMsg
	DataMsg   // a data message, e.g. onMetaData
	StatusMsg // an onStatus command; Code holds its code
	EOFMsg    // the StreamEOF user control event
)

// Message is one message from the server. Body is only valid until the next call to Next.
type Message struct {
	Kind      MessageKind
	Timestamp uint32 // milliseconds
	Body      []byte
	Code      string // for Status: e.g. NetStream.Play.Start
	Level     string // for Status: status or error
	Text      string // for Status: its description
}

// Player is a connection playing one stream. It writes its commands with go-rtmp and reads
// with a chunk reader of its own, which hands out message bodies without copying them: the
// load tool runs thousands of players next to the server it measures.
type Player struct {
	nc       net.Conn
	cs       *gortmp.ChunkStreamer // writes only
	in       *chunkReader
	streamID uint32
	closed   sync.Once
	// life ends at Close, and with it a publisher's write waiting for go-rtmp's writer.
	life    context.Context
	endLife context.CancelFunc
}

// PlayOptions tune a Player.
type PlayOptions struct {
	// ReadBuffer sets the socket receive buffer (SO_RCVBUF) when > 0.
	ReadBuffer int
	// Start is where a stored file starts; zero asks for "live or recorded" (-1000).
	Start time.Duration
	// FourCCs are the enhanced RTMP codecs the player announces (fourCcList: "hvc1",
	// "av01", "vp09", "Opus"); none: a legacy player, sent H.264 and AAC only.
	FourCCs []string
	// TLS configures rtmps:// connections; nil: the system's roots, the URL's host.
	TLS *tls.Config
}

// dial connects to u's host: TCP for rtmp://, TLS for rtmps://; the ports default to 1935
// and 443.
func dial(ctx context.Context, u *url.URL, tc *tls.Config) (net.Conn, error) {
	host := u.Host
	if u.Port() == "" {
		port := "1935"
		if u.Scheme == "rtmps" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	if u.Scheme != "rtmps" {
		return d.DialContext(ctx, "tcp", host)
	}
	if tc == nil {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc = tc.Clone()
		tc.ServerName = u.Hostname()
	}
	return (&tls.Dialer{NetDialer: &d, Config: tc}).DialContext(ctx, "tcp", host)
}

// target splits an rtmp:// or rtmps:// URL into its app and stream name, the query (where
// the stream key goes) kept on the name.
func target(rawURL, verb string) (*url.URL, string, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "rtmp" && u.Scheme != "rtmps") {
		return nil, "", "", fmt.Errorf("rtmp %s %s: not an rtmp:// or rtmps:// URL", verb, rawURL)
	}
	app, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || app == "" || name == "" {
		return nil, "", "", fmt.Errorf("rtmp %s %s: want rtmp://host/app/name", verb, rawURL)
	}
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	return u, app, name, nil
}

// Play connects to rawURL (rtmp://host:port/app/name) and starts playing. It returns once the
// play command is sent; the server's answer is among the first messages Next returns.
func Play(ctx context.Context, rawURL string, opt PlayOptions) (*Player, error) {
	u, app, name, err := target(rawURL, "play")
	if err != nil {
		return nil, err
	}
	nc, err := dial(ctx, u, opt.TLS)
	if err != nil {
		return nil, fmt.Errorf("rtmp play %s: %w", withoutQuery(rawURL), err)
	}
	if tc, ok := nc.(*net.TCPConn); ok && opt.ReadBuffer > 0 {
		_ = tc.SetReadBuffer(opt.ReadBuffer)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	p := &Player{nc: nc}
	if err := p.start(app, name, rawURL, opt); err != nil {
		p.Close()
		return nil, fmt.Errorf("rtmp play %s: %w", withoutQuery(rawURL), err)
	}
	_ = nc.SetDeadline(time.Time{})
	return p, nil
}

func (p *Player) start(app, name, rawURL string, opt PlayOptions) error {
	props := map[string]interface{}{
		"app": app, "flashVer": "LNX 9,0,124,2", "fpad": false,
		"capabilities": 15, "audioCodecs": 4071, "videoCodecs": 252, "videoFunction": 1,
	}
	if len(opt.FourCCs) > 0 {
		list := make([]interface{}, len(opt.FourCCs))
		for i, c := range opt.FourCCs {
			list[i] = c
		}
		props["fourCcList"] = list
	}
	if err := p.connect(rawURL, props); err != nil {
		return err
	}
	ms := float64(-1000)
	if opt.Start > 0 {
		ms = float64(opt.Start.Milliseconds())
	}
	return p.command(p.streamID, 8, "play", 0, nil, name, ms)
}

// Seek asks the server to play from t; its answer is among the messages Next returns.
func (p *Player) Seek(t time.Duration) error {
	return p.command(p.streamID, 8, "seek", 0, nil, float64(t.Milliseconds()))
}

// Pause pauses (or, with pause false, resumes at t) a stored file.
func (p *Player) Pause(pause bool, t time.Duration) error {
	return p.command(p.streamID, 8, "pause", 0, nil, pause, float64(t.Milliseconds()))
}

// connect does the handshake, connect (with props and the tcUrl) and createStream.
func (p *Player) connect(rawURL string, props map[string]interface{}) error {
	if err := handshake.HandshakeWithServer(p.nc, p.nc, &handshake.Config{}); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	p.cs = gortmp.NewChunkStreamer(nil, p.nc, nil)
	p.in = newChunkReader(bufio.NewReaderSize(p.nc, 16<<10))
	props["tcUrl"] = rawURL[:strings.LastIndex(rawURL, "/")]
	if err := p.command(0, 3, "connect", 1, props); err != nil {
		return err
	}
	if _, err := p.awaitResult(1); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := p.command(0, 3, "createStream", 2, nil); err != nil {
		return err
	}
	res, err := p.awaitResult(2)
	if err != nil {
		return fmt.Errorf("createStream: %w", err)
	}
	id, ok := res[len(res)-1].(float64)
	if !ok {
		return fmt.Errorf("createStream: result %v has no stream id", res)
	}
	p.streamID = uint32(id)
	return nil
}

func (p *Player) command(streamID uint32, csid int, name string, txn int64, args ...interface{}) error {
	var body bytes.Buffer
	enc := message.NewAMFEncoder(&body, message.EncodingTypeAMF0)
	for _, a := range args {
		if err := enc.Encode(a); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.cs.Write(ctx, csid, 0, &gortmp.ChunkMessage{StreamID: streamID, Message: &message.CommandMessage{
		CommandName: name, TransactionID: txn, Encoding: message.EncodingTypeAMF0, Body: &body,
	}})
}

// awaitResult reads until the _result of transaction txn and returns its values after the
// transaction id.
func (p *Player) awaitResult(txn int64) ([]interface{}, error) {
	for {
		m, err := p.in.next()
		if err != nil {
			return nil, err
		}
		if m.typ != msgCommandAMF0 {
			continue
		}
		vals, err := decodeAll(bytes.NewReader(m.body))
		if err != nil {
			return nil, err
		}
		if len(vals) < 2 || vals[1] != float64(txn) {
			continue
		}
		if vals[0] != "_result" {
			return nil, fmt.Errorf("%v %v", vals[0], vals[2:])
		}
		return vals[2:], nil
	}
}

// Next returns the next message of interest: media, data, status or end of stream.
func (p *Player) Next() (Message, error) {
	for {
		m, err := p.in.next()
		if err != nil {
			return Message{}, err
		}
		switch m.typ {
		case msgVideo:
			return Message{Kind: VideoMsg, Timestamp: m.ts, Body: m.body}, nil
		case msgAudio:
			return Message{Kind: AudioMsg, Timestamp: m.ts, Body: m.body}, nil
		case msgDataAMF0:
			return Message{Kind: DataMsg, Timestamp: m.ts, Body: m.body}, nil
		case msgUserControl:
			if len(m.body) >= 2 && binary.BigEndian.Uint16(m.body) == 1 { // StreamEOF
				return Message{Kind: EOFMsg, Timestamp: m.ts}, nil
			}
		case msgCommandAMF0:
			if msg, ok, err := statusOf(m); ok || err != nil {
				return msg, err
			}
		}
	}
}

// status decodes an onStatus command; ok is false for any other command.
func statusOf(m inMessage) (Message, bool, error) {
	vals, err := decodeAll(bytes.NewReader(m.body))
	if err != nil {
		return Message{}, false, err
	}
	if len(vals) == 0 || vals[0] != "onStatus" {
		return Message{}, false, nil
	}
	msg := Message{Kind: StatusMsg, Timestamp: m.ts}
	for _, v := range vals {
		if obj, ok := v.(map[string]interface{}); ok {
			msg.Code, _ = obj["code"].(string)
			msg.Level, _ = obj["level"].(string)
			msg.Text, _ = obj["description"].(string)
		}
	}
	return msg, true, nil
}

func decodeAll(r io.Reader) ([]interface{}, error) {
	dec := message.NewAMFDecoder(r, message.EncodingTypeAMF0)
	var vals []interface{}
	for {
		var v interface{}
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				return vals, nil
			}
			return vals, err
		}
		vals = append(vals, v)
	}
}

// DeleteStream tells the server the player is done with the stream, as players do before
// they hang up; the connection stays open.
func (p *Player) DeleteStream() error {
	return p.command(0, 3, "deleteStream", 0, nil, float64(p.streamID))
}

// Conn is the underlying connection, e.g. to stop reading from it.
func (p *Player) Conn() net.Conn { return p.nc }

// Close hangs up. It may be called more than once, from any goroutine.
func (p *Player) Close() {
	p.closed.Do(func() {
		if p.endLife != nil {
			p.endLife()
		}
		_ = p.nc.Close()
		if p.cs != nil {
			_ = p.cs.Close()
		}
	})
}
