// Command relaycast is a live streaming media server: publish over RTMP, watch over RTMP,
// RTSP and in the browser.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/relaycast/relaycast/internal/app"
	"github.com/relaycast/relaycast/internal/conf"
)

func main() {
	args := os.Args[1:]
	cfg, err := conf.Load(args, os.Getenv, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relaycast:", err)
		os.Exit(2)
	}
	level := new(slog.LevelVar)
	l, _ := conf.ParseLevel(cfg.LogLevel)
	level.Set(l)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	a, err := app.New(cfg, log, nil)
	if err == nil {
		a.LogLevel = level
		reloads, stopReloads := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.ReloadOn(reloads, hup, func() (conf.Config, error) { return conf.Load(args, os.Getenv, io.Discard) })
		}()
		err = a.Run(ctx)
		stopReloads()
		<-done
	}
	if err != nil {
		log.Error("relaycast stopped", "err", err)
		os.Exit(1)
	}
}
