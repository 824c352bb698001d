package health

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// Consul 1.16.3's answers, as measured with curl against an agent with ACLs on.
const (
	bodyAnonymous = `Permission denied: anonymous token lacks permission 'agent:read' on "n1". The anonymous token is used implicitly when a request does not specify a token.`
	bodyAccessor  = `Permission denied: token with AccessorID 'd1f93606-3788-ce25-df1c-b8acb8c6ad7a' lacks permission 'agent:read' on "n1"`
	bodyNotFound  = `ACL not found`
)

func TestAsPermission(t *testing.T) {
	for _, tt := range []struct {
		name      string
		kind      Kind
		err       error
		perm      string
		cause     string
		anonymous bool
		mention   string // in Error()
	}{
		{"anonymous", KindDatacenters, api.StatusError{Code: 403, Body: bodyAnonymous},
			"agent:read", causeDenied, true, "CONSUL_HTTP_TOKEN"},
		{"named in the body", KindCatalog, api.StatusError{Code: 403, Body: bodyAccessor},
			"agent:read", causeDenied, false, "lacks agent:read"},
		{"unknown token", KindCatalog, api.StatusError{Code: 403, Body: bodyNotFound},
			"service:read", causeNotFound, false, "does not know the token"},
		{"unknown token, nodes", KindNodes, api.StatusError{Code: 403, Body: bodyNotFound},
			"node:read", causeNotFound, false, "403 ACL not found"},
		{"emptied", KindService, errFiltered,
			"service:read and node:read", causeFiltered, false, "hid every result"},
		{"wrapped", KindNodes, errors.Join(errors.New("x"), api.StatusError{Code: 403, Body: "Permission denied"}),
			"node:read", causeDenied, false, "403 Permission denied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := asPermission(tt.kind, "/v1/x", tt.err)
			var pe *PermissionError
			if !errors.As(err, &pe) || !errors.Is(err, ErrPermission) {
				t.Fatalf("asPermission(%v) = %v, want a *PermissionError", tt.err, err)
			}
			if pe.Permission != tt.perm || pe.Cause != tt.cause || pe.Anonymous != tt.anonymous {
				t.Errorf("got %+v, want permission %q cause %q anonymous %v", *pe, tt.perm, tt.cause, tt.anonymous)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.mention) || !strings.Contains(msg, "/v1/x") {
				t.Errorf("Error() = %q, want it to mention %q and the endpoint", msg, tt.mention)
			}
			if strings.Contains(msg, "d1f93606") {
				t.Errorf("Error() = %q names the token's AccessorID", msg)
			}
			if unreachable(err) {
				t.Errorf("unreachable(%v) = true: a refused token must not close the outage gate", err)
			}
		})
	}
	for _, err := range []error{nil, api.StatusError{Code: 500, Body: "rpc error"}, api.StatusError{Code: 429}, context.Canceled} {
		if got := asPermission(KindCatalog, "/v1/x", err); got != err {
			t.Errorf("asPermission(%v) = %v, want it unchanged", err, got)
		}
	}
}

func TestEmptied(t *testing.T) {
	filtered := &api.QueryMeta{ResultsFilteredByACLs: true, DefaultACLPolicy: "deny"}
	plain := &api.QueryMeta{DefaultACLPolicy: "deny"}
	noACL := &api.QueryMeta{DefaultACLPolicy: "allow"}
	for _, tt := range []struct {
		kind       Kind
		n          int
		meta       *api.QueryMeta
		leaderless bool
		want       bool
	}{
		{KindService, 0, filtered, false, true},
		{KindService, 0, plain, false, false}, // a service whose instances all left
		{KindService, 1, filtered, false, false},
		{KindQuery, 0, filtered, false, true},
		// Every datacenter lists its servers' nodes and the consul service, so an
		// empty list is ACL filtering even without the header (anonymous token).
		{KindCatalog, 0, plain, false, true},
		{KindCatalog, 0, filtered, false, true},
		{KindNodes, 0, plain, false, true},
		{KindNodes, 0, plain, true, false}, // a restarting server: the loop's rule
		{KindCatalog, 3, filtered, false, false},
		{KindCatalog, 0, nil, false, false},
		// Without ACLs an empty list is Consul's own business (a restarting server).
		{KindCatalog, 0, noACL, false, false},
		{KindNodes, 0, noACL, false, false},
	} {
		if got := emptied(tt.kind, tt.n, tt.meta, tt.leaderless) != nil; got != tt.want {
			t.Errorf("emptied(%v, %d, %+v, %v) = %v, want %v", tt.kind, tt.n, tt.meta, tt.leaderless, got, tt.want)
		}
	}
}

// TestDenialsCurrent: a refusal is current while a source that got it had no other
// outcome since; the same cause from many sources is logged once.
func TestDenialsCurrent(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var d denials
	refused := api.StatusError{Code: 403, Body: bodyNotFound}
	var a, b string
	for range 3 {
		d.observe(log, KindService, "/v1/health/service/web", refused, &a)
		d.observe(log, KindService, "/v1/health/service/api", refused, &b)
	}
	if err := d.err(); !errors.Is(err, ErrPermission) {
		t.Fatalf("err() = %v, want a refusal", err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings for one cause, want 1:\n%s", n, logs.String())
	}
	if got := d.counts[KindService].Load(); got != 6 {
		t.Errorf("counted %d refusals, want 6", got)
	}
	d.observe(log, KindService, "", nil, &a)
	if d.err() == nil {
		t.Error("one of two refused watches recovered: the other is still refused")
	}
	// An outage is another outcome: the refusal is no longer what is known.
	d.observe(log, KindService, "", errors.New("connection refused"), &b)
	if err := d.err(); err != nil {
		t.Errorf("err() = %v after both watches had other outcomes", err)
	}
	if !strings.Contains(logs.String(), "accepts the ACL token again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}

	// The catalog blocks readiness, so its refusal is the one reported.
	d.observe(log, KindService, "/v1/health/service/web", refused, &a)
	d.observe(log, KindCatalog, "/v1/catalog/services", refused, &b)
	var pe *PermissionError
	if !errors.As(d.err(), &pe) || pe.Endpoint != "/v1/catalog/services" {
		t.Errorf("err() = %v, want the catalog's refusal", d.err())
	}
	d.drop(&a)
	d.drop(&b)
	if d.err() != nil || d.current.Load() != 0 {
		t.Errorf("after drop: err %v, current %d", d.err(), d.current.Load())
	}
}

// TestLoopRefusedToken: a loop whose requests are refused keeps its last answer,
// never closes the outage gate (no probes, no outage clock), warns once, and reports
// the refusal until an answer comes.
func TestLoopRefusedToken(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stats := &Stats{}
	g := newGate(func(context.Context) error { t.Error("gate probed on a refused token"); return nil }, log)
	refused := api.StatusError{Code: 403, Body: bodyNotFound}
	var seen []error // Denied() as each request starts
	steps := []step{{index: 5}, {err: refused}, {err: refused}, {err: refused}, {index: 9}}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	var delivered []uint64
	l := loop[uint64]{kind: KindService, what: "service /web", stats: stats, log: log, gate: g,
		fetch: func(ctx context.Context, index uint64) (uint64, uint64, error) {
			seen = append(seen, stats.acl.err())
			if n == len(steps) {
				cancel()
				<-ctx.Done()
				return 0, 0, ctx.Err()
			}
			st := steps[n]
			n++
			return st.index, st.index, st.err
		},
		out: func(v uint64) { delivered = append(delivered, v) },
	}
	if err := l.run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v", err)
	}
	if !equalU64(delivered, []uint64{5, 9}) {
		t.Errorf("delivered %v, want [5 9]: a refusal must neither deliver nor drop the last answer", delivered)
	}
	for i, want := range []bool{false, false, true, true, true, false} {
		if got := seen[i] != nil; got != want {
			t.Errorf("request %d: Denied() = %v, want refused=%v", i, seen[i], want)
		}
	}
	if pe := (*PermissionError)(nil); !errors.As(seen[2], &pe) || pe.Endpoint != "/v1/health/service/web" {
		t.Errorf("refusal %v does not name /v1/health/service/web", seen[2])
	}
	if g.down || stats.Outage() != 0 {
		t.Errorf("gate down %v, outage %v: a refused token is not an outage", g.down, stats.Outage())
	}
	if stats.Denials(KindService) != 3 || stats.Errors(KindService) != 3 {
		t.Errorf("denials %d errors %d, want 3 and 3", stats.Denials(KindService), stats.Errors(KindService))
	}
	if c := strings.Count(logs.String(), "level=WARN"); c != 1 {
		t.Errorf("%d warnings, want 1:\n%s", c, logs.String())
	}
}
