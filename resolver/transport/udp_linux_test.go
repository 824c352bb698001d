package transport

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestUDPReceiveBuffer: each socket gets a receive buffer that holds seconds of
// queries. Tests run as root (CAP_NET_ADMIN), so the kernel's rmem_max does not cap
// it here; elsewhere it is capped silently, which the docs explain.
func TestUDPReceiveBuffer(t *testing.T) {
	conns, err := listenUDP("127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		defer c.Close()
		// The kernel reports twice the size asked for.
		if got := receiveBuffer(c); got < 2*udpReceiveBuffer {
			t.Errorf("receive buffer %d bytes, want %d", got, 2*udpReceiveBuffer)
		}
	}
}

// TestMmsghdrLayout: the kernel steps through the batch array by sizeof(struct
// mmsghdr); a Go struct of another size would read every slot after the first at
// the wrong offset.
func TestMmsghdrLayout(t *testing.T) {
	want := uintptr(64)
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = 32
	}
	if got := unsafe.Sizeof(mmsghdr{}); got != want {
		t.Fatalf("mmsghdr is %d bytes, want %d", got, want)
	}
}

// TestThreadReadersReserveProcs: thread readers leave a P idle for the rest of the
// process (reserveProcs says why), and a larger GOMAXPROCS is left alone.
func TestThreadReadersReserveProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	start(t, "127.0.0.1:0", 2, ReaderThread)
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS %d with 2 thread readers, want 3", got)
	}
	runtime.GOMAXPROCS(8)
	start(t, "127.0.0.1:0", 2, ReaderThread)
	if got := runtime.GOMAXPROCS(0); got != 8 {
		t.Errorf("GOMAXPROCS %d, want 8 left alone", got)
	}
}
