package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Pipelined index probes. A sweep probes every held service (sweepprobe.go). One
// probe at a time through the API client, a registration cost, with 2,000 held
// services on this project's 2-core bench host, about 225 ms of srvbridge's CPU and
// 300 ms of the agent's, mostly per request rather than per byte: the client's
// goroutine hand-offs (caller, write loop, read loop) and a read and a write system
// call on each side. HTTP/1.1 lets a client send requests back to back and read the
// answers in order, so a sweep writes probeBatch probes at once on a connection of
// its own and reads their answers from one buffer: about 115 ms and 240 ms
// (bench/results/2026-12-01-pipelined-probes.md).
//
// Over HTTPS the probe connection offers only HTTP/1.1 in its handshake (ALPN),
// whatever the transport negotiates: HTTP/2 multiplexes the API client's probes on
// one connection, but each is still a request of its own, and as streams they cost
// both sides more than pipelined: with 2,000 held services about 410-460 ms of the
// agent's CPU and 290-300 ms of srvbridge's per registration, against 250-260 ms
// and 120-130 ms (bench/results/2026-12-01-pipelined-probes-https.md). Through a
// proxy or a Unix socket the probes keep the API client's path.

// ProbeConn configures the sweeps' pipelined probe connection.
type ProbeConn struct {
	// Addr is Consul's HTTP or HTTPS address, host:port.
	Addr string
	// TLS, when set, makes it HTTPS: the API client's TLS settings (CA, client
	// certificate, server name). The probe connection offers HTTP/1.1 only.
	TLS *tls.Config
	// Token is sent in the X-Consul-Token header, as the API client sends it.
	Token string
	// Dial makes the connection; nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// ProbeConns is the connections of the budget (Config.MaxConns) that the probe
// connection takes when Config.Probes is set; the transport gets the rest.
const ProbeConns = 1

// probeBatch is the most probes written at once; Consul reads them from one
// buffer and answers them in order. 32 cost less CPU on both sides than 8.
const probeBatch = 32

// probeDuty is the share of time, in percent, the probe connection may be busy:
// after a batch it rests for as long as the batch took. Unpaced, the agent answered
// a whole sweep back to back on one core, and the DNS p99 while the catalog
// changed rose by a millisecond on the 2-core bench host; paced, it stayed where it
// was one probe at a time. A sweep then takes about twice as long, which also lets
// more changes share one.
const probeDuty = 50

// probeIdle closes the probe connection once no sweep used it for this long, as
// the transport does with its idle connections.
const probeIdle = 30 * time.Second

// probeMaxBody bounds an answer's body. A probe's is "[]"; an error's a line.
const probeMaxBody = 64 << 10

// errProbeConn says that Consul answered a probe in a way that leaves the
// connection unusable; the probes not answered yet are sent again on a new one.
var errProbeConn = errors.New("probe connection")

type probeAnswer struct {
	index uint64
	ok    bool  // index stands for the full read's (see probeService)
	err   error // Consul's refusal (api.StatusError), or the connection's failure
}

// pipeline owns the probe connection: one batch at a time.
type pipeline struct {
	cfg    ProbeConn
	header string // the request lines after the first, up to the blank line

	mu    sync.Mutex
	conn  net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	timer *time.Timer // closes conn after probeIdle
	rest  time.Time   // the next batch starts no earlier (probeDuty)
	buf   []byte
}

func newPipeline(cfg ProbeConn) (*pipeline, error) {
	if strings.ContainsAny(cfg.Token, "\r\n") || strings.ContainsAny(cfg.Addr, "\r\n/ ") || cfg.Addr == "" {
		return nil, errors.New("probe connection: the address or the token cannot go in a request header")
	}
	h := "Host: " + cfg.Addr + "\r\nUser-Agent: srvbridge\r\n"
	if cfg.Token != "" {
		h += "X-Consul-Token: " + cfg.Token + "\r\n"
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	if cfg.TLS != nil {
		c := cfg.TLS.Clone()
		c.NextProtos = []string{"http/1.1"}
		if c.ServerName == "" {
			// As net/http does: the host of the address, a name or an IP address.
			host, _, err := net.SplitHostPort(cfg.Addr)
			if err != nil {
				return nil, fmt.Errorf("probe connection: %w", err)
			}
			c.ServerName = host
		}
		cfg.TLS = c
	}
	return &pipeline{cfg: cfg, header: h + "\r\n"}, nil
}

// dial connects to the agent, and over HTTPS completes the handshake.
func (p *pipeline) dial(ctx context.Context) (net.Conn, error) {
	conn, err := p.cfg.Dial(ctx, "tcp", p.cfg.Addr)
	if err != nil || p.cfg.TLS == nil {
		return conn, err
	}
	tc := tls.Client(conn, p.cfg.TLS)
	// crypto/tls fails the handshake if the agent picks a protocol not offered.
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// probe asks for the index of each service in names, in dc, and fills out (as
// long as names). A connection that fails or closes before every answer came is
// replaced, at most twice; what is still unanswered after that gets the failure.
// A 429 that closes the connection is not retried: the rest get it too.
func (p *pipeline) probe(ctx context.Context, dc string, stale bool, names []string, out []probeAnswer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
	}
	if d := time.Until(p.rest); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	start := time.Now()
	defer func() { p.rest = time.Now().Add(time.Since(start) * (100 - probeDuty) / probeDuty) }()
	done := 0
	for attempt := 0; done < len(names); attempt++ {
		// A reused connection may have been closed by the agent meanwhile: that
		// first failure is not news about Consul. A fresh one's failure is.
		reused := p.conn != nil
		n, err := p.batch(ctx, dc, stale, names[done:], out[done:])
		done += n
		if err == nil {
			continue
		}
		p.close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		if done > 0 && throttled(out[done-1].err) {
			err = out[done-1].err // the agent shed this connection: fewer, not again
		} else if done < len(names) && (n > 0 || reused) && attempt < 2 && ctx.Err() == nil {
			continue
		}
		for i := done; i < len(names); i++ {
			out[i] = probeAnswer{err: err}
		}
		break
	}
	switch {
	case p.conn == nil:
	case p.timer == nil:
		p.timer = time.AfterFunc(probeIdle, p.closeIdle)
	default:
		p.timer.Reset(probeIdle)
	}
}

// closeIdle closes the connection if no batch uses it: a batch rearms the idle
// timer when done.
func (p *pipeline) closeIdle() {
	if !p.mu.TryLock() {
		return
	}
	defer p.mu.Unlock()
	p.close()
}

func (p *pipeline) close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn, p.br, p.bw = nil, nil, nil
	}
}

// batch writes the probes of names and reads their answers in order, on the
// current connection or a new one. n is how many answers it read.
func (p *pipeline) batch(ctx context.Context, dc string, stale bool, names []string, out []probeAnswer) (n int, err error) {
	if p.conn == nil {
		dctx, cancel := context.WithTimeout(ctx, oneShotTimeout)
		conn, err := p.dial(dctx)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("probe connection to %s: %w", p.cfg.Addr, err)
		}
		p.conn, p.br, p.bw = conn, bufio.NewReaderSize(conn, 16<<10), bufio.NewWriterSize(conn, 16<<10)
	}
	if err := p.conn.SetDeadline(time.Now().Add(oneShotTimeout)); err != nil {
		return 0, fmt.Errorf("probe connection to %s: %w", p.cfg.Addr, err)
	}
	conn := p.conn // the batch may close it and clear p.conn before this runs
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for _, name := range names {
		p.buf = appendProbe(p.buf[:0], name, dc, stale)
		p.bw.Write(p.buf)
		p.bw.WriteString(p.header)
	}
	if err := p.bw.Flush(); err != nil {
		return 0, fmt.Errorf("probe connection to %s: %w", p.cfg.Addr, err)
	}
	for n < len(names) {
		a, keep, err := p.read()
		if err != nil {
			return n, fmt.Errorf("probe connection to %s: %w", p.cfg.Addr, err)
		}
		out[n] = a
		n++
		if !keep && n < len(names) {
			return n, fmt.Errorf("%w: the agent closed it", errProbeConn)
		}
		if !keep {
			p.close()
		}
	}
	return n, nil
}

// appendProbe appends the request line of the index probe of name: the same
// request probeService makes through the API client.
func appendProbe(b []byte, name, dc string, stale bool) []byte {
	b = append(b, "GET /v1/health/service/"...)
	b = append(b, url.PathEscape(name)...)
	b = append(b, "?tag="...)
	b = append(b, url.QueryEscape(probeTag)...)
	if dc != "" {
		b = append(b, "&dc="...)
		b = append(b, url.QueryEscape(dc)...)
	}
	if stale {
		b = append(b, "&stale="...)
	}
	return append(b, " HTTP/1.1\r\n"...)
}

// read reads one answer. keep is false when the agent closes the connection
// after it.
func (p *pipeline) read() (a probeAnswer, keep bool, err error) {
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return a, false, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, probeMaxBody+1))
	resp.Body.Close()
	if err != nil {
		return a, false, err
	}
	if len(body) > probeMaxBody {
		return a, false, fmt.Errorf("%w: an answer of more than %d bytes", errProbeConn, probeMaxBody)
	}
	keep = !resp.Close
	if resp.StatusCode != http.StatusOK {
		// What the API client returns for the same answer, so that the errors
		// classify (throttled, unreachable, asPermission) alike.
		return probeAnswer{err: api.StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}}, keep, nil
	}
	index, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	filtered := resp.Header.Get("X-Consul-Results-Filtered-By-ACLs") == "true"
	return probeAnswer{index: index, ok: index != 0 && !filtered}, keep, nil
}
