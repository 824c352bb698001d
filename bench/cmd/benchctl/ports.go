package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// cmdPorts prints n distinct ports that are free on 127.0.0.1 for both TCP and UDP at
// the time of the call (DNS servers bind both). They are held until all are chosen, so
// the set has no duplicates; another process can still take one afterwards, in which
// case the server that loses the race fails to start and run.sh stops.
func cmdPorts(args []string) error {
	fs := flag.NewFlagSet("ports", flag.ContinueOnError)
	n := fs.Int("n", 1, "how many ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *n > 64 {
		return fmt.Errorf("-n %d: want 1..64", *n)
	}
	var held []interface{ Close() error }
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var out []string
	for len(out) < *n {
		port, err := pickPort(&held)
		if err != nil {
			return err
		}
		out = append(out, strconv.Itoa(port))
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

func pickPort(held *[]interface{ Close() error }) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			l.Close()
			continue
		}
		*held = append(*held, l, u)
		return port, nil
	}
	return 0, errors.New("no port free for both tcp and udp after 50 tries")
}
