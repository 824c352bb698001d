package cache

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarseNow is a seconds clock advanced by a ticker so that recording "last used" on
// every query costs an atomic load instead of a time.Now call.
var (
	coarseNow   atomic.Int64
	clockOnce   sync.Once
	clockPeriod = 250 * time.Millisecond
)

func startClock() {
	clockOnce.Do(func() {
		coarseNow.Store(time.Now().Unix())
		go func() {
			for now := range time.Tick(clockPeriod) {
				coarseNow.Store(now.Unix())
			}
		}()
	})
}
