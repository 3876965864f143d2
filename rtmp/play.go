package rtmp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// maxBatch bounds how many bytes a play session gathers into one vectored write when it is
// behind (joining on the GOP cache, or after a stall).
const maxBatch = 256 << 10

// playStartWait bounds the wait for go-rtmp's NetStream.Play.Start before media goes out
// anyway.
const playStartWait = 5 * time.Second

// playSession sends one stream to one player. Its goroutine is the only writer of media on
// the connection; it is stopped by stop (or the connection closing) and signals done.
type playSession struct {
	h        *handler
	stream   *relay.Stream
	reader   *relay.Reader
	streamID uint32
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // why the session ended; read after done

	ch                   *chunker
	sentVideo, sentAudio *relay.Track
	sentPreface          bool
}

func startPlay(h *handler, stream *relay.Stream, streamID uint32, started <-chan struct{}) *playSession {
	ctx, cancel := context.WithCancel(context.Background())
	p := &playSession{
		h: h, stream: stream, reader: stream.NewReader(), streamID: streamID,
		cancel: cancel, done: make(chan struct{}), ch: newChunker(h.srv.cfg.ChunkSize),
	}
	go pprof.Do(ctx, pprof.Labels("stream", stream.Path(), "protocol", "rtmp"), func(ctx context.Context) {
		p.run(ctx, started)
	})
	return p
}

func (p *playSession) stop() { p.cancel() }

func (p *playSession) reason() string {
	switch {
	case p.err == nil, errors.Is(p.err, context.Canceled):
		return "player left"
	case errors.Is(p.err, relay.ErrEnded):
		return "stream ended"
	default:
		return p.err.Error()
	}
}

func (p *playSession) run(ctx context.Context, started <-chan struct{}) {
	defer close(p.done)
	defer p.reader.Close()
	defer p.cancel()
	p.err = p.send(ctx, started)
	if errors.Is(p.err, relay.ErrEnded) && ctx.Err() == nil {
		p.sendEnd()
		// Let the player hang up first, so it reads the end instead of a reset.
		linger := time.NewTimer(p.h.srv.cfg.EndLinger)
		select {
		case <-ctx.Done():
		case <-linger.C:
		}
		linger.Stop()
	}
	_ = p.h.c.Conn.Close() // ends the go-rtmp session too, if it is still up
}

func (p *playSession) send(ctx context.Context, started <-chan struct{}) error {
	wait := time.NewTimer(playStartWait)
	select {
	case <-ctx.Done():
		wait.Stop()
		return ctx.Err()
	case <-started:
	case <-wait.C:
	}
	wait.Stop()
	for {
		f, err := p.reader.Next(ctx)
		if err != nil {
			return err
		}
		p.addFrame(f)
		if p.ch.pending() < maxBatch && p.reader.Ready() {
			continue
		}
		if err := p.flush(); err != nil {
			return err
		}
	}
}

func (p *playSession) flush() error {
	bufs := p.ch.buffers()
	err := p.h.c.writeBuffers(&bufs)
	p.ch.reset()
	if err != nil {
		return fmt.Errorf("rtmp play %s: %w", p.stream.Path(), err)
	}
	return nil
}

// addFrame queues f, preceded by the metadata and any codec config the player lacks.
func (p *playSession) addFrame(f *relay.Frame) {
	ts := rtmpTime(f.DTS)
	if !p.sentPreface {
		p.sentPreface = true
		if meta := p.stream.Metadata(); meta != nil {
			// At time zero: ffmpeg takes onMetaData at any other time for a data track.
			p.ch.add(csidCommand, typeDataAMF0, p.streamID, 0, nil, meta)
		}
		for _, t := range p.stream.Tracks() {
			p.addConfig(t, ts)
		}
	}
	p.addConfig(f.Track, ts)
	var prefix [5]byte
	switch f.Track.Codec {
	case relay.CodecH264:
		prefix[0] = 0x27 // inter frame, AVC
		if f.Key {
			prefix[0] = 0x17
		}
		prefix[1] = 1 // NALU
		cts := int32((f.PTS - f.DTS) / time.Millisecond)
		prefix[2], prefix[3], prefix[4] = byte(cts>>16), byte(cts>>8), byte(cts)
		p.ch.add(csidVideo, typeVideo, p.streamID, ts, prefix[:5], f.Payload)
	case relay.CodecAAC:
		prefix[0], prefix[1] = 0xaf, 1 // AAC, raw
		p.ch.add(csidAudio, typeAudio, p.streamID, ts, prefix[:2], f.Payload)
	}
}

// addConfig queues t's sequence header unless the player has it already.
func (p *playSession) addConfig(t *relay.Track, ts uint32) {
	switch t.Codec {
	case relay.CodecH264:
		if p.sentVideo != t {
			p.sentVideo = t
			p.ch.add(csidVideo, typeVideo, p.streamID, ts, []byte{0x17, 0, 0, 0, 0}, t.Config)
		}
	case relay.CodecAAC:
		if p.sentAudio != t {
			p.sentAudio = t
			p.ch.add(csidAudio, typeAudio, p.streamID, ts, []byte{0xaf, 0}, t.Config)
		}
	}
}

// sendEnd tells the player the stream is over: NetStream.Play.UnpublishNotify, then the
// StreamEOF user control event.
func (p *playSession) sendEnd() {
	p.ch.reset()
	p.ch.add(csidCommand, typeCommandAMF0, p.streamID, 0, nil,
		statusPlayUnpublished.with(p.stream.Path()+" is no longer published").command())
	var eof [6]byte
	binary.BigEndian.PutUint16(eof[0:], 1) // StreamEOF
	binary.BigEndian.PutUint32(eof[2:], p.streamID)
	p.ch.add(csidCommand, typeUserControl, 0, 0, nil, eof[:])
	_ = p.flush()
}

// rtmpTime is a stream time in RTMP's 32-bit milliseconds, which wrap.
func rtmpTime(d time.Duration) uint32 {
	if d < 0 {
		return 0
	}
	return uint32(int64(d / time.Millisecond))
}
