//go:build linux

package main

import (
	"net"
	"os"
	"testing"
)

// TestEstablishedTCPSeesOurConnection: the sock_diag dump lists a connection this
// process just made, both ends, with the inode its descriptor links to, and agrees
// with /proc/net/tcp on it.
func TestEstablishedTCPSeesOurConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	own, err := fdInodes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}

	entries, err := establishedTCP()
	if err != nil {
		t.Fatal(err)
	}
	owned, server, unknown := connCount(entries, port, own, nil)
	if owned != 1 || server != 1 || unknown {
		t.Errorf("sock_diag: owned %d, server side %d, unknown %v; want 1, 1, false (%d entries)", owned, server, unknown, len(entries))
	}
	proc, err := readTCPTables(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if po, ps, _ := connCount(proc, port, own, nil); po != owned || ps != server {
		t.Errorf("/proc/net/tcp: owned %d, server side %d; sock_diag %d, %d", po, ps, owned, server)
	}
}
