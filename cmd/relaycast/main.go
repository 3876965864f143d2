// Command relaycast is a live streaming media server: publish over RTMP, watch over RTMP,
// RTSP and in the browser.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/relaycast/relaycast/internal/app"
	"github.com/relaycast/relaycast/internal/conf"
)

func main() {
	cfg, err := conf.Load(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relaycast:", err)
		os.Exit(2)
	}
	level, _ := conf.ParseLevel(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(cfg, log, nil)
	if err == nil {
		err = a.Run(ctx)
	}
	if err != nil {
		log.Error("relaycast stopped", "err", err)
		os.Exit(1)
	}
}
