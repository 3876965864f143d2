// Command relaycast is a live streaming media server: publish over RTMP, watch over RTMP,
// RTSP and in the browser.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/relaycast/relaycast/access"
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
	rcfg.Grace, rcfg.MaxLag = cfg.Grace, cfg.MaxLag
	if err := rcfg.Validate(); err != nil {
		return err
	}
	relays := relay.NewRegistry(rcfg)

	rtmpLn, err := net.Listen("tcp", cfg.RTMP)
	if err != nil {
		return fmt.Errorf("rtmp listen %s: %w", cfg.RTMP, err)
	}
	policy := &access.Policy{PublishKey: cfg.PublishKey, PathKeys: cfg.PublishKeys, ReadKey: cfg.ReadKey, OnPublish: cfg.OnPublish}
	rtmpCfg := rtmp.DefaultConfig()
	rtmpCfg.Access = policy
	rtmpSrv := rtmp.New(rtmpCfg, relays, log)

	rtspLn, err := net.Listen("tcp", cfg.RTSP)
	if err != nil {
		rtmpLn.Close()
		return fmt.Errorf("rtsp listen %s: %w", cfg.RTSP, err)
	}
	rtspCfg := rtsp.DefaultConfig()
	rtspCfg.RTPPort, rtspCfg.RTCPPort, rtspCfg.MulticastRange = cfg.RTSPRTPPort, cfg.RTSPRTCPPort, cfg.RTSPMulticast
	rtspCfg.ReadKey = cfg.ReadKey
	rtspSrv := rtsp.New(rtspCfg, relays, log)
	if err := rtspSrv.Start(rtspLn); err != nil {
		rtmpLn.Close()
		return err
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		rtmpLn.Close()
		rtspSrv.Close()
		return fmt.Errorf("http listen %s: %w", cfg.HTTP, err)
	}
	browsers := player.New(player.DefaultConfig(), relays, log)
	webCfg := web.DefaultConfig()
	webCfg.RTMPPort, webCfg.RTSPPort = port(rtmpLn), port(rtspLn)
	webCfg.Access = policy
	webSrv := web.New(webCfg, relays, browsers, map[string]web.ViewerCounter{"rtmp": rtmpSrv, "rtsp": rtspSrv}, log)
	log.Info("relaycast listening", "rtmp", rtmpLn.Addr().String(), "rtsp", rtspLn.Addr().String(),
		"http", httpLn.Addr().String(),
		"publish", fmt.Sprintf("rtmp://HOST:%d/live/NAME", port(rtmpLn)),
		"watch", fmt.Sprintf("http://HOST:%d/", port(httpLn)))

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() {
		if err := rtmpSrv.Serve(rtmpLn); err != nil {
			errc <- err
		}
	})
	wg.Go(func() {
		if err := webSrv.Serve(httpLn); err != nil {
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
	return errors.Join(err, shutdown(log, stopDemo, relays, &wg, rtmpSrv, rtspSrv, closerFunc(func() error {
		browsers.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return webSrv.Shutdown(sctx)
	})))
}

// shutdown ends the streams (players are told), then closes the servers.
func shutdown(log *slog.Logger, stopDemo func(), relays *relay.Registry, wg *sync.WaitGroup, servers ...io.Closer) error {
	done := make(chan error, 1)
	go func() {
		stopDemo()
		relays.Close()
		var err error
		for _, s := range servers {
			err = errors.Join(err, s.Close())
		}
		wg.Wait()
		done <- err
	}()
	select {
	case err := <-done:
		log.Info("stopped")
		return err
	case <-time.After(shutdownTimeout):
		return fmt.Errorf("shutdown took longer than %v", shutdownTimeout)
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func port(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }
