package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestBackend(t *testing.T) {
	b := &backend{name: "web-1", log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(b.handler())
	defer srv.Close()

	do := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	steps := []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/", 200, "hello from web-1\n"},
		{"GET", "/api", 200, "{\"instance\":\"web-1\"}\n"},
		{"GET", "/health", 200, "ok\n"},
		{"POST", "/fail", 200, "web-1: /health now answers 503\n"},
		{"GET", "/health", 503, "failing\n"},
		{"GET", "/", 200, "hello from web-1\n"}, // failing health does not stop serving
		{"GET", "/api", 200, "{\"instance\":\"web-1\"}\n"},
		{"POST", "/recover", 200, "web-1: /health now answers 200\n"},
		{"GET", "/health", 200, "ok\n"},
		{"GET", "/fail", 405, ""},
		{"GET", "/other", 404, ""},
	}
	for _, s := range steps {
		code, body := do(s.method, s.path)
		if code != s.code || (s.body != "" && body != s.body) {
			t.Errorf("%s %s: %d %q, want %d %q", s.method, s.path, code, body, s.code, s.body)
		}
	}
}
