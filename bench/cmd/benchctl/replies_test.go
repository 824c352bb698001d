package main

import (
	"net"
	"testing"
	"time"
)

// TestReadReplies: every reply's header reaches the callback, a runt is skipped, and
// the read deadline ends the loop without an error.
func TestReadReplies(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cl, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	reply := func(id byte, rcode byte) []byte {
		return []byte{0, id, 0x81, 0x80 | rcode, 0, 0, 0, 0, 0, 0, 0, 0}
	}
	for _, p := range [][]byte{reply(1, 0), {1, 2, 3}, reply(2, 3)} {
		if _, err := srv.WriteToUDP(p, cl.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var got []header
	if err := readReplies(cl, func(h header, _ time.Time) { got = append(got, h) }); err != nil {
		t.Fatalf("readReplies: %v, want nil at the deadline", err)
	}
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 2 || got[1].Rcode != 3 {
		t.Errorf("headers %+v, want IDs 1 and 2 (rcode 3), the runt skipped", got)
	}
}
