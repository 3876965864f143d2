package rtmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/relaycast/relaycast/relay"
)

// shardTick is how long held audio and a hung-up player wait at most when no frame comes.
// endTick replaces it while a player has been told its stream ended: it hangs up at once, and
// a server shutting down waits for that.
const (
	shardTick = 250 * time.Millisecond
	endTick   = 20 * time.Millisecond
)

var errServerClosing = errors.New("server closing")

// fanout serves one stream's RTMP players from one shard per core.
type fanout struct {
	shards []*shard
}

// shard serves a share of one stream's players from one goroutine. On each new frame it walks
// its players and gives each what it lacks in one non-blocking writev: no goroutine wakes per
// player and frame. A player whose socket is full gets a short-lived goroutine that finishes
// the write (or times out) while the shard goes on with the others, so a slow player holds
// nobody up.
type shard struct {
	srv    *Server
	fan    *fanout
	stream *relay.Stream
	wake   chan struct{}

	// Under srv.mu.
	members int // viewers handed to the shard that have not left
	running bool
	joining []*viewer

	// Owned by the shard's goroutine.
	viewers []*viewer
	again   bool           // a viewer has more to send right away: no wait before the next round
	ending  int            // viewers told their stream ended
	work    sync.WaitGroup // unfinished writes, and input goroutines of non-socket viewers
	io      nbIO
	in      []byte // scratch for the players' input
}

// attach hands a viewer, whose connection go-rtmp has let go of, to the least busy shard of
// its stream.
func (s *Server) attach(v *viewer) {
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		v.fail(errServerClosing)
		s.leave(v)
		return
	default:
	}
	fan := s.fanouts[v.stream]
	if fan == nil {
		fan = &fanout{}
		for range runtime.GOMAXPROCS(0) {
			fan.shards = append(fan.shards, &shard{srv: s, fan: fan, stream: v.stream, wake: make(chan struct{}, 1)})
		}
		s.fanouts[v.stream] = fan
	}
	sh := fan.shards[0]
	for _, o := range fan.shards[1:] {
		if o.members < sh.members {
			sh = o
		}
	}
	sh.members++
	sh.joining = append(sh.joining, v)
	if !sh.running {
		sh.running = true
		s.active.Add(1) // the viewer's connection is counted too, so the count is not zero
		labels := pprof.Labels("stream", v.path(), "protocol", "rtmp")
		go pprof.Do(s.ctx, labels, sh.run)
	}
	s.mu.Unlock()
	sh.kick()
}

// leave ends a viewer that no shard serves (any more): its socket, its relay reader, its
// place in the server's books.
func (s *Server) leave(v *viewer) {
	_ = v.c.Conn.Close()
	v.reader.Close()
	if v.vod != nil {
		v.vod.ctl.Close()
	}
	v.sess.Leave(v.failed())
	s.forget(v.c)
}

func (sh *shard) kick() {
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

func (sh *shard) run(ctx context.Context) {
	defer sh.srv.active.Done()
	unsubscribe := sh.stream.Subscribe(sh.wake)
	defer unsubscribe()
	tick := time.NewTicker(shardTick)
	defer tick.Stop()
	flushAll, fast := false, false
	for {
		sh.take()
		sh.round(time.Now(), flushAll)
		flushAll = false
		if fast != (sh.ending > 0) {
			fast = !fast
			d := shardTick
			if fast {
				d = endTick
			}
			tick.Reset(d)
		}
		if len(sh.viewers) == 0 {
			sh.work.Wait() // writes and input readers of those who left end with their sockets
			if sh.idle() {
				return
			}
		}
		if sh.again && ctx.Err() == nil {
			sh.again = false
			continue
		}
		select {
		case <-ctx.Done():
			sh.closeAll()
			return
		case <-sh.wake:
		case <-tick.C:
			flushAll = true
		}
	}
}

// take adopts the viewers handed over since the last round.
func (sh *shard) take() {
	sh.srv.mu.Lock()
	joining := sh.joining
	sh.joining = nil
	sh.srv.mu.Unlock()
	for _, v := range joining {
		if v.raw == nil {
			sh.work.Add(1)
			go func() {
				defer sh.work.Done()
				v.readInput(sh.kick)
			}()
		}
		sh.viewers = append(sh.viewers, v)
	}
}

// idle stops the shard if it has no viewer left or on the way.
func (sh *shard) idle() bool {
	s := sh.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh.members > 0 {
		return false
	}
	sh.running = false
	for _, o := range sh.fan.shards {
		if o.running {
			return true
		}
	}
	if s.fanouts[sh.stream] == sh.fan {
		delete(s.fanouts, sh.stream)
	}
	return true
}

func (sh *shard) closeAll() {
	sh.take()
	for _, v := range sh.viewers {
		v.fail(errServerClosing)
	}
	sh.work.Wait()
	for _, v := range sh.viewers {
		sh.drop(v)
	}
	sh.viewers = nil
}

func (sh *shard) drop(v *viewer) {
	sh.srv.mu.Lock()
	sh.members--
	sh.srv.mu.Unlock()
	sh.srv.leave(v)
}

func (sh *shard) round(now time.Time, flushAll bool) {
	sh.ending = 0
	kept := sh.viewers[:0]
	for _, v := range sh.viewers {
		if sh.serve(v, now, flushAll) {
			kept = append(kept, v)
		} else {
			sh.drop(v)
		}
	}
	clear(sh.viewers[len(kept):])
	sh.viewers = kept
}

// serve gives v the frames it lacks. It reports false when v is done.
func (sh *shard) serve(v *viewer, now time.Time, flushAll bool) bool {
	if v.busy.Load() {
		return true // a goroutine is finishing its last write
	}
	if (flushAll || !v.endAt.IsZero()) && v.raw != nil && !sh.hear(v) {
		return false
	}
	if v.dead.Load() {
		return false
	}
	if v.vod != nil && v.endAt.IsZero() {
		v.applyControls()
	}
	if !v.endAt.IsZero() {
		sh.ending++
		return now.Before(v.endAt) // told the stream ended; waiting for the player to hang up
	}
	for v.ch.pending() < maxBatch {
		f, err := v.reader.Poll()
		if errors.Is(err, relay.ErrEnded) {
			v.record(err)
			v.addEnd()
			v.endAt = now.Add(sh.srv.cfg.EndLinger)
			sh.ending++
			break
		}
		if err != nil {
			v.fail(fmt.Errorf("rtmp play %s: %w", v.path(), err))
			return false
		}
		if f == nil {
			break
		}
		v.addFrame(f)
	}
	if v.ch.pending() > 0 && (flushAll || v.due()) && !sh.write(v) {
		return false
	}
	if !v.busy.Load() && v.endAt.IsZero() {
		if v.reader.Ready() {
			sh.again = true
		} else if !v.coalescing && v.c.tcp != nil && !sh.srv.cfg.NoDelay {
			// Caught up: from now on the kernel may merge writes the player is slow to
			// acknowledge (Nagle). Not before: the GOP burst at join would meet delayed ACKs.
			v.coalescing = true
			_ = v.c.tcp.SetNoDelay(false)
		}
	}
	return true
}

// write sends v's pending messages with a non-blocking writev; what the socket does not take
// at once is finished by a goroutine of its own. It reports false when the player is gone.
func (sh *shard) write(v *viewer) bool {
	bufs := v.ch.buffers()
	n, err := sh.io.write(v.raw, bufs)
	v.sess.AddOut(n)
	if err != nil {
		v.fail(fmt.Errorf("rtmp play %s: %w", v.path(), err))
		return false
	}
	if n == v.ch.pending() {
		v.sent()
		return true
	}
	bufs = advance(bufs, n)
	v.busy.Store(true)
	sh.work.Add(1)
	go v.finishWrite(bufs, sh.srv.cfg.WriteTimeout, func() {
		sh.work.Done()
		sh.kick()
	})
	return true
}

// hear reads what v sent since the last tick, without waiting. It reports false when v
// hung up or broke a limit.
func (sh *shard) hear(v *viewer) bool {
	if sh.in == nil {
		sh.in = make([]byte, 4096)
	}
	for {
		n, err := sh.io.read(v.raw, sh.in)
		if !v.heard(sh.in[:n], err) {
			return false
		}
		if n < len(sh.in) {
			return true
		}
	}
}

// advance drops the first n bytes of b.
func advance(b net.Buffers, n int) net.Buffers {
	for n > 0 && len(b) > 0 {
		if n < len(b[0]) {
			b[0] = b[0][n:]
			return b
		}
		n -= len(b[0])
		b = b[1:]
	}
	return b
}
