package main

// How many TCP connections srvbridge holds to Consul, sampled often enough to see a
// burst: every -every, the ESTABLISHED sockets in /proc/<pid>/net/tcp{,6} whose remote
// port is Consul's HTTP(S) port and whose inode is one of the process's file
// descriptors (so the bench's own Consul clients and another replica do not count).
// Also, from the agent's side, all established connections to that port. Linux only:
// on another system the files are missing and the command fails.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tcpEntry is one line of /proc/net/tcp or tcp6.
type tcpEntry struct {
	LocalPort, RemotePort int
	State                 string // hex, "01" is ESTABLISHED
	Inode                 uint64
}

// parseTCPTable reads the lines of /proc/net/tcp or /proc/net/tcp6 (header skipped,
// unreadable lines skipped).
func parseTCPTable(text string) []tcpEntry {
	var out []tcpEntry
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		if len(f) < 10 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		lp, err1 := hexPort(f[1])
		rp, err2 := hexPort(f[2])
		ino, err3 := strconv.ParseUint(f[9], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, tcpEntry{LocalPort: lp, RemotePort: rp, State: f[3], Inode: ino})
	}
	return out
}

func hexPort(addr string) (int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return 0, fmt.Errorf("%q: no port", addr)
	}
	p, err := strconv.ParseUint(addr[i+1:], 16, 16)
	return int(p), err
}

// socketInode reads the inode from a file descriptor's link, "socket:[12345]".
func socketInode(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, false
	}
	v, err := strconv.ParseUint(s[:len(s)-1], 10, 64)
	return v, err == nil
}

// connCount counts the ESTABLISHED entries to port: those whose inode is in own
// (client side, one process), and all whose local port is port (the agent's side).
// unknown: a connection to port that is in neither own nor foreign.
//
// Each socket counts once, by inode: the kernel writes the table in chunks while
// sockets come and go, so one read can list a socket twice.
func connCount(entries []tcpEntry, port int, own, foreign map[uint64]bool) (owned, server int, unknown bool) {
	seen := map[uint64]bool{}
	for _, e := range entries {
		if e.State != "01" || seen[e.Inode] {
			continue
		}
		seen[e.Inode] = true
		if e.LocalPort == port {
			server++
		}
		if e.RemotePort == port {
			if own[e.Inode] {
				owned++
			} else if e.Inode != 0 && !foreign[e.Inode] {
				unknown = true
			}
		}
	}
	return owned, server, unknown
}

// fdInodes is the set of socket inodes among a process's file descriptors.
func fdInodes(pid int) (map[uint64]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]bool, len(ents))
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := socketInode(link); ok {
			out[ino] = true
		}
	}
	return out, nil
}

// tcpTable lists the ESTABLISHED (and, from /proc, other) TCP sockets of pid's
// network namespace: through sock_diag (conns_diag_linux.go), which sees benchctl's
// own namespace, the one the bench runs everything in; else from /proc.
func tcpTable(pid int) ([]tcpEntry, error) {
	if entries, err := establishedTCP(); err == nil {
		return entries, nil
	}
	return readTCPTables(pid)
}

func readTCPTables(pid int) ([]tcpEntry, error) {
	var all []tcpEntry
	var errs []error
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, parseTCPTable(string(b))...)
	}
	if len(errs) == 2 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

// connSeries is one process's samples.
type connSeries struct {
	Pid      int     `json:"pid"`
	Samples  int     `json:"samples"`
	Max      int     `json:"max"`
	Mean     float64 `json:"mean"`
	PerSecMx []int   `json:"per_second_max"`
	sum      int
	own      map[uint64]bool
	foreign  map[uint64]bool // sockets to the port seen not to be this process's
}

// connsResult is what conns writes.
type connsResult struct {
	Port      int                    `json:"port"`
	EveryMS   float64                `json:"every_ms"`
	Secs      float64                `json:"secs"`
	Procs     map[string]*connSeries `json:"procs"`
	ServerMax int                    `json:"agent_side_max"` // all clients' connections to the port
}

func cmdConns(args []string) error {
	fs := flag.NewFlagSet("conns", flag.ContinueOnError)
	pids := pidFlag{}
	fs.Var(pids, "pid", "label=pid of a process whose connections to count (repeatable)")
	port := fs.Int("port", 0, "Consul's HTTP or HTTPS port")
	every := fs.Duration("every", 100*time.Millisecond, "sampling interval")
	secs := fs.Duration("secs", 30*time.Minute, "longest run; SIGTERM or SIGINT ends it earlier")
	out := fs.String("out", "", "write the results as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(pids) == 0 || *port <= 0 || *out == "" || *every < 10*time.Millisecond || *secs <= 0 || *secs > 2*time.Hour {
		return errors.New("-pid, -port and -out are required; want every >= 10ms, 0 < secs <= 2h")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *secs)
	defer cancel()
	res := connsResult{Port: *port, EveryMS: ms(*every), Procs: map[string]*connSeries{}}
	for l, pid := range pids {
		res.Procs[l] = &connSeries{Pid: pid}
	}
	start := time.Now()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for ctx.Err() == nil {
		sec := int(time.Since(start) / time.Second)
		var entries []tcpEntry // one read of the table for every process
		read := false
		for _, s := range res.Procs {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", s.Pid)); err != nil {
				continue // not running (yet, or any more)
			}
			if !read {
				var err error
				if entries, err = tcpTable(s.Pid); err != nil {
					break // no sample this time
				}
				read = true
			}
			owned, server, unknown := connCount(entries, *port, s.own, s.foreign)
			if unknown || s.own == nil {
				// A connection this process may have opened since the last look:
				// read its descriptors again (only then, which keeps a sample cheap),
				// and remember the connections that are someone else's.
				if own, err := fdInodes(s.Pid); err == nil {
					s.own = own
					owned, server, _ = connCount(entries, *port, own, nil)
					s.foreign = map[uint64]bool{}
					for _, e := range entries {
						if e.RemotePort == *port && !own[e.Inode] {
							s.foreign[e.Inode] = true
						}
					}
				}
			}
			s.Samples++
			s.sum += owned
			s.Max = max(s.Max, owned)
			for len(s.PerSecMx) <= sec {
				s.PerSecMx = append(s.PerSecMx, 0)
			}
			s.PerSecMx[sec] = max(s.PerSecMx[sec], owned)
			res.ServerMax = max(res.ServerMax, server)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	res.Secs = time.Since(start).Seconds()
	var parts []string
	for l, s := range res.Procs {
		if s.Samples > 0 {
			s.Mean = float64(s.sum) / float64(s.Samples)
		}
		parts = append(parts, fmt.Sprintf("%s max %d (mean %.1f, %d samples)", l, s.Max, s.Mean, s.Samples))
	}
	fmt.Printf("conns to port %d over %.0f s: %s; all clients max %d\n", *port, res.Secs, strings.Join(parts, ", "), res.ServerMax)
	return writeJSON(*out, res)
}
