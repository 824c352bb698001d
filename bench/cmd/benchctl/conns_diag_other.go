//go:build !linux

package main

import "errors"

// establishedTCP needs Linux's sock_diag; elsewhere conns reads /proc, which is
// missing too, and fails.
func establishedTCP() ([]tcpEntry, error) {
	return nil, errors.New("sock_diag: Linux only")
}
