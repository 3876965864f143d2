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

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
	"github.com/relaycast/relaycast/rtsp"
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
	rtmpSrv := rtmp.New(rtmp.DefaultConfig(), relays, log)

	rtspLn, err := net.Listen("tcp", cfg.RTSP)
	if err != nil {
		rtmpLn.Close()
		return fmt.Errorf("rtsp listen %s: %w", cfg.RTSP, err)
	}
	rtspCfg := rtsp.DefaultConfig()
	rtspCfg.RTPPort, rtspCfg.RTCPPort, rtspCfg.MulticastRange = cfg.RTSPRTPPort, cfg.RTSPRTCPPort, cfg.RTSPMulticast
	rtspSrv := rtsp.New(rtspCfg, relays, log)
	if err := rtspSrv.Start(rtspLn); err != nil {
		rtmpLn.Close()
		return err
	}
	log.Info("relaycast listening", "rtmp", rtmpLn.Addr().String(), "rtsp", rtspLn.Addr().String(),
		"publish", fmt.Sprintf("rtmp://HOST:%d/live/NAME", rtmpLn.Addr().(*net.TCPAddr).Port),
		"watch", fmt.Sprintf("rtsp://HOST:%d/live/NAME", rtspLn.Addr().(*net.TCPAddr).Port))

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() {
		if err := rtmpSrv.Serve(rtmpLn); err != nil {
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
	return errors.Join(err, shutdown(log, stopDemo, relays, &wg, rtmpSrv, rtspSrv))
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
