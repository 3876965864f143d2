// Command relaycast is a live streaming media server: publish over RTMP, watch over RTMP,
// RTSP and in the browser.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/connlimit"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/player"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
	"github.com/relaycast/relaycast/rtsp"
	"github.com/relaycast/relaycast/web"
)

// shutdownTimeout bounds a clean stop after SIGINT/SIGTERM.
const shutdownTimeout = 5 * time.Second

func main() {
	cfg, err := loadConfig(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relaycast:", err)
		os.Exit(2)
	}
	level, _ := parseLevel(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("relaycast stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down within shutdownTimeout.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	rcfg := relay.DefaultConfig()
	rcfg.Grace, rcfg.MaxLag, rcfg.MaxStreams = cfg.Grace, cfg.MaxLag, cfg.MaxStreams
	if err := rcfg.Validate(); err != nil {
		return err
	}
	stopProfiling, err := startProfiling(cfg, 15*time.Second, log)
	if err != nil {
		return err
	}
	defer stopProfiling()
	lns, err := listenAll(cfg)
	if err != nil {
		return err
	}
	limiter := &connlimit.Limiter{Max: cfg.MaxConns, PerIP: cfg.MaxConnsPerIP, Log: log}
	relays := relay.NewRegistry(rcfg)
	policy := &access.Policy{PublishKey: cfg.PublishKey, PathKeys: cfg.PublishKeys, ReadKey: cfg.ReadKey, OnPublish: cfg.OnPublish}

	rtmpCfg := rtmp.DefaultConfig()
	rtmpCfg.Access = policy
	rtmpCfg.NoDelay = cfg.RTMPNoDelay
	rtmpSrv := rtmp.New(rtmpCfg, relays, log)

	rtspCfg := rtsp.DefaultConfig()
	rtspCfg.RTPPort, rtspCfg.RTCPPort, rtspCfg.MulticastRange = cfg.RTSPRTPPort, cfg.RTSPRTCPPort, cfg.RTSPMulticast
	rtspCfg.Access = policy
	rtspSrv := rtsp.New(rtspCfg, relays, log)

	browsers := player.New(player.DefaultConfig(), relays, log)
	webCfg := web.DefaultConfig()
	webCfg.RTMPPort, webCfg.RTSPPort = port(lns.rtmp), port(lns.rtsp)
	webCfg.Access, webCfg.Pprof = policy, cfg.Pprof
	webSrv := web.New(webCfg, relays, browsers, map[string]web.ViewerCounter{"rtmp": rtmpSrv, "rtsp": rtspSrv}, log)

	log.Info("relaycast listening", "rtmp", lns.rtmp.Addr().String(), "rtsp", lns.rtsp.Addr().String(),
		"http", lns.http.Addr().String(),
		"publish", fmt.Sprintf("rtmp://HOST:%d/live/NAME", port(lns.rtmp)),
		"watch", fmt.Sprintf("http://HOST:%d/", port(lns.http)))

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Go(func() {
		if err := rtmpSrv.Serve(limiter.Listen(lns.rtmp, "rtmp")); err != nil {
			errc <- err
		}
	})
	wg.Go(func() {
		if err := rtspSrv.Serve(limiter.Listen(lns.rtsp, "rtsp")); err != nil {
			errc <- err
		}
	})
	wg.Go(func() {
		if err := webSrv.Serve(limiter.Listen(lns.http, "http")); err != nil {
			errc <- err
		}
	})
	demoCtx, stopDemo := context.WithCancel(ctx)
	defer stopDemo()
	if cfg.Demo {
		demo := &ingest.Demo{Path: "live/demo", Log: log}
		wg.Go(func() {
			if err := demo.Run(demoCtx, relays); err != nil {
				errc <- err
			}
		})
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
	}
	done := make(chan error, 1)
	go func() {
		// Ending the streams tells every viewer (RTMP UnpublishNotify, RTCP BYE, the end of
		// the HTTP response); publishers hear it from Shutdown.
		stopDemo()
		relays.Close()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout-time.Second)
		defer cancel()
		err := errors.Join(rtmpSrv.Shutdown(sctx), rtspSrv.Shutdown(sctx))
		browsers.Close()
		err = errors.Join(err, webSrv.Shutdown(sctx))
		wg.Wait()
		done <- err
	}()
	select {
	case serr := <-done:
		log.Info("stopped")
		return errors.Join(err, serr)
	case <-time.After(shutdownTimeout):
		return errors.Join(err, fmt.Errorf("shutdown took longer than %v", shutdownTimeout))
	}
}

type listeners struct{ rtmp, rtsp, http net.Listener }

// listenAll opens the three TCP ports, or none.
func listenAll(cfg config) (listeners, error) {
	var ls listeners
	for _, l := range []struct {
		name, addr string
		dst        *net.Listener
	}{{"rtmp", cfg.RTMP, &ls.rtmp}, {"rtsp", cfg.RTSP, &ls.rtsp}, {"http", cfg.HTTP, &ls.http}} {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, open := range []net.Listener{ls.rtmp, ls.rtsp, ls.http} {
				if open != nil {
					open.Close()
				}
			}
			return ls, fmt.Errorf("%s listen %s: %w", l.name, l.addr, err)
		}
		*l.dst = ln
	}
	return ls, nil
}

func port(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }
