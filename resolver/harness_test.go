//go:build harness

package resolver

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
)

// TestServeForProfile is not a test but a fixture for profiling the socket path
// (bench/results/*-udp-reader.md say how it was used): it serves the hot server's
// answers (a real Consul agent, web.service.consul with 3 instances) on
// $HARNESS_ADDR with the UDP reader $HARNESS_READER and $HARNESS_SOCKETS sockets,
// prints "ready", and stops on SIGTERM or SIGINT.
//
//	go test -c -tags harness -o harness ./resolver/
//	HARNESS_ADDR=127.0.0.1:5399 HARNESS_READER=thread ./harness -test.run TestServeForProfile -test.timeout 0
func TestServeForProfile(t *testing.T) {
	addr := os.Getenv("HARNESS_ADDR")
	if addr == "" {
		t.Skip("HARNESS_ADDR not set")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s := hotServer(t)
	srv := New(s.comp, s.store)
	srv.cfg.Addr = addr
	srv.cfg.UDPReader = os.Getenv("HARNESS_READER")
	srv.cfg.UDPSockets, _ = strconv.Atoi(os.Getenv("HARNESS_SOCKETS"))
	if srv.cfg.UDPSockets <= 0 {
		srv.cfg.UDPSockets = 1
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready", srv.Addr())
	<-ctx.Done()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
