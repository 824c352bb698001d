// Command sample-service is the small HTTP app of the compose stack in deploy/compose:
// the recipe's sample service, in Go so that its image needs nothing but this repo.
//
// GET /api answers with the instance's id, so that curling Kong's /api a few times
// shows the requests spread over the instances. At start it registers itself in Consul
// with an HTTP health check; on SIGTERM it deregisters, keeps serving for a drain
// period (Kong still holds the old DNS answer for up to its TTL), then exits. It binds
// a fixed port inside its own container and takes no fixed name, so
// `docker compose up --scale sample=3` just works.
//
// `sample-service healthcheck` asks the running instance's /health (the image's
// HEALTHCHECK; the image has no shell or curl).
//
// Configuration (environment):
//
//	SERVICE_NAME       Consul service name (default my-service)
//	PORT               port to listen on and register (default 8080)
//	CONSUL_HTTP_ADDR   Consul agent, host:port or http(s)://host:port (default 127.0.0.1:8500)
//	CONSUL_HTTP_TOKEN  ACL token, if Consul has ACLs on
//	SERVICE_ADDRESS    address to register (default: the local address that reaches Consul)
//	INSTANCE_ID        instance id (default: the hostname, which Docker sets to the container id)
//	DRAIN              how long to keep serving after deregistering (default 7s)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sample-service: %v\n", err)
		os.Exit(2)
	}
	// "sample-service healthcheck" is the container's HEALTHCHECK: the distroless
	// image has no shell or curl.
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		if err := healthcheck(cfg.Port); err != nil {
			fmt.Fprintf(os.Stderr, "sample-service healthcheck: %v\n", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("sample-service failed", "err", err)
		os.Exit(1)
	}
}

type config struct {
	Service    string
	Port       int
	Consul     *url.URL
	Token      string
	Address    string // empty: find it
	InstanceID string
	Drain      time.Duration
	// Listen overrides the listen address (tests use 127.0.0.1:0); empty means all
	// interfaces on Port.
	Listen string
}

func configFromEnv(getenv func(string) string) (config, error) {
	c := config{
		Service:    or(getenv("SERVICE_NAME"), "my-service"),
		Token:      getenv("CONSUL_HTTP_TOKEN"),
		Address:    getenv("SERVICE_ADDRESS"),
		InstanceID: getenv("INSTANCE_ID"),
		Drain:      7 * time.Second,
	}
	var err error
	if c.Port, err = strconv.Atoi(or(getenv("PORT"), "8080")); err != nil || c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("PORT %q: not a port number", getenv("PORT"))
	}
	if c.Consul, err = consulURL(or(getenv("CONSUL_HTTP_ADDR"), "127.0.0.1:8500")); err != nil {
		return c, err
	}
	if v := getenv("DRAIN"); v != "" {
		if c.Drain, err = time.ParseDuration(v); err != nil || c.Drain < 0 {
			return c, fmt.Errorf("DRAIN %q: not a duration", v)
		}
	}
	if c.InstanceID == "" {
		if c.InstanceID, err = os.Hostname(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// consulURL accepts the forms the consul CLI accepts in CONSUL_HTTP_ADDR.
func consulURL(addr string) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("CONSUL_HTTP_ADDR %q: want host:port or http(s)://host:port", addr)
	}
	return u, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	listen := cfg.Listen
	if listen == "" {
		listen = ":" + strconv.Itoa(cfg.Port)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if cfg.Listen != "" { // a test's port 0: register the port actually bound
		cfg.Port = ln.Addr().(*net.TCPAddr).Port
	}

	c := &consul{base: cfg.Consul, token: cfg.Token, http: &http.Client{Timeout: 5 * time.Second}}
	if cfg.Address == "" {
		if cfg.Address, err = outboundAddr(cfg.Consul.Host); err != nil {
			ln.Close()
			return fmt.Errorf("finding the address to register (set SERVICE_ADDRESS): %w", err)
		}
	}
	hostname, _ := os.Hostname()
	logger = logger.With("instance", cfg.InstanceID)
	self := instance{ID: cfg.InstanceID, Hostname: hostname, Address: net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))}

	srv := &http.Server{Handler: handler(self), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())

	// The instance id is unique per container, so replicas never overwrite each other's
	// registration; the service name is what they share.
	serviceID := cfg.Service + "-" + cfg.InstanceID
	reg := registration{
		ID:      serviceID,
		Name:    cfg.Service,
		Address: cfg.Address,
		Port:    cfg.Port,
		Meta:    map[string]string{"instance": cfg.InstanceID},
		Check: check{
			HTTP:     "http://" + self.Address + "/health",
			Interval: "2s",
			Timeout:  "1s",
			// A container killed with SIGKILL never deregisters; its failing check
			// takes it out of DNS within seconds, and Consul forgets it after this.
			DeregisterCriticalServiceAfter: "1m",
		},
	}
	// Consul may still be starting: retry until it takes the registration or we are
	// told to stop.
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := c.put(ctx, "/v1/agent/service/register", reg)
		if err == nil {
			break
		}
		logger.Warn("registering in Consul, will retry", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return shutdownServer(srv, served)
		case <-time.After(wait):
		}
	}
	logger.Info("registered in Consul", "service", cfg.Service, "id", serviceID, "address", self.Address)

	deregister := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.put(ctx, "/v1/agent/service/deregister/"+url.PathEscape(serviceID), nil)
	}
	select {
	case <-ctx.Done():
	case err := <-served: // the server died: do not leave a registration behind
		deregister()
		return err
	}

	// Deregister first, then drain: resolvers (and Kong) keep the old answer for up to
	// the TTL, and requests they send meanwhile should still succeed.
	if err := deregister(); err != nil {
		logger.Warn("deregistering from Consul failed; its health check will take this instance out", "err", err)
	} else {
		logger.Info("deregistered from Consul; draining", "for", cfg.Drain)
	}
	time.Sleep(cfg.Drain)
	return shutdownServer(srv, served)
}

func shutdownServer(srv *http.Server, served <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// healthcheck asks this container's own server for /health.
func healthcheck(port int) error {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/health: %s", resp.Status)
	}
	return nil
}

// instance is what GET /api answers.
type instance struct {
	ID       string `json:"instance"`
	Hostname string `json:"hostname"`
	Address  string `json:"address"`
}

func handler(self instance) http.Handler {
	body, _ := json.Marshal(self)
	body = append(body, '\n')
	mux := http.NewServeMux()
	// /api and anything under it: Kong's route keeps the path (strip_path false).
	api := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
	mux.HandleFunc("GET /api", api)
	mux.HandleFunc("GET /api/", api)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	return mux
}

// outboundAddr returns the local IP the kernel would use to reach consulHost. A UDP
// "connect" sends nothing; it only picks the route, which on a compose network is the
// container's address on that network.
func outboundAddr(consulHost string) (string, error) {
	host := consulHost
	if h, _, err := net.SplitHostPort(consulHost); err == nil {
		host = h
	}
	conn, err := net.Dial("udp", net.JoinHostPort(host, "9"))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

type registration struct {
	ID      string
	Name    string
	Address string
	Port    int
	Meta    map[string]string
	Check   check
}

type check struct {
	HTTP                           string
	Interval                       string
	Timeout                        string
	DeregisterCriticalServiceAfter string
}

// consul is the two calls of Consul's agent API this service needs; plain HTTP, so the
// sample stays readable for users who write their services in other languages.
type consul struct {
	base  *url.URL
	token string
	http  *http.Client
}

func (c *consul) put(ctx context.Context, path string, body any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), r)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("X-Consul-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("PUT %s: %s: %s", path, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
