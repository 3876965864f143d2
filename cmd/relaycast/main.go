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

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
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
	log.Info("relaycast listening", "rtmp", rtmpLn.Addr().String(),
		"publish", fmt.Sprintf("rtmp://HOST:%d/live/NAME", rtmpLn.Addr().(*net.TCPAddr).Port))

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
	return errors.Join(err, shutdown(log, stopDemo, rtmpSrv, relays, &wg))
}

func shutdown(log *slog.Logger, stopDemo func(), rtmpSrv *rtmp.Server, relays *relay.Registry, wg *sync.WaitGroup) error {
	done := make(chan error, 1)
	go func() {
		stopDemo()
		relays.Close() // tells every player the stream ended
		err := rtmpSrv.Close()
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
