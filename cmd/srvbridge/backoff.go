package main

import (
	"context"
	"time"
)

// retry calls f until it succeeds or ctx ends, waiting between tries from first, doubling
// up to ceiling. onErr sees every failure, so the caller can log it and expose it in
// /readyz. Start-up uses it so that a Consul agent that is briefly down delays
// readiness instead of crash-looping the process.
func retry(ctx context.Context, first, ceiling time.Duration, f func(context.Context) error, onErr func(error, time.Duration)) error {
	wait := first
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if onErr != nil {
			onErr(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, ceiling)
	}
}
