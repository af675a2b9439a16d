package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/ui"
)

// server is one HTTP server the harness started.
type server struct {
	name string
	url  string // http://host:port
	srv  *http.Server
	done chan error
}

func serve(name string, ln net.Listener, srv *http.Server) *server {
	s := &server{name: name, url: "http://" + ln.Addr().String(), srv: srv, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ln) }()
	return s
}

func (s *server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// keywardServer is keyward's real server: store, service and HTTP API,
// built the way keyward serve builds them.
type keywardServer struct {
	*server
	store keyward.Store
	svc   *service.Service
}

// startTimes break the start on the seeded database down.
type startTimes struct {
	OpenMigrateMS float64 `json:"open_and_migrate_ms"`
	ServiceMS     float64 `json:"service_and_bootstrap_ms"`
	FirstReadyMS  float64 `json:"first_readyz_ok_ms"`
	TotalMS       float64 `json:"total_ms"`
	ReadyzPolls   int     `json:"readyz_polls"`
}

// startKeyward opens the store, builds the service and HTTP API and serves
// them on addr; it measures each step up to the first /readyz 200 that a
// client gets.
func (h *harness) startKeyward(ctx context.Context, addr string, cacheSize int) (*keywardServer, startTimes, error) {
	var t startTimes
	t0 := time.Now()
	st, err := h.openStore(ctx)
	if err != nil {
		return nil, t, fmt.Errorf("open the store: %w", err)
	}
	t1 := time.Now()
	svc := service.New(service.Options{Store: st, Logger: h.log, CacheSize: cacheSize})
	if _, _, err := svc.Bootstrap(ctx); err != nil { // a no-op on the seeded database, as at every keyward serve
		svc.Close(ctx)
		st.Close()
		return nil, t, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		svc.Close(ctx)
		st.Close()
		return nil, t, err
	}
	api := khttp.NewServer(svc, khttp.Options{Logger: h.log})
	if h.cfg.uiPages {
		ui.Mount(api, svc, ui.Options{Logger: h.log}) // as keyward serve does by default
	}
	k := &keywardServer{store: st, svc: svc, server: serve("keyward", ln, khttp.NewHTTPServer(api, h.log))}
	t2 := time.Now()
	polls, err := waitReady(ctx, k.url)
	if err != nil {
		k.close()
		return nil, t, err
	}
	t3 := time.Now()
	t = startTimes{OpenMigrateMS: ms(t1.Sub(t0)), ServiceMS: ms(t2.Sub(t1)), FirstReadyMS: ms(t3.Sub(t2)),
		TotalMS: ms(t3.Sub(t0)), ReadyzPolls: polls}
	return k, t, nil
}

func (k *keywardServer) close() error {
	err := k.shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := k.svc.Close(ctx); err == nil {
		err = cerr
	}
	if cerr := k.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// waitReady polls GET /readyz until it answers 200, with a fresh
// connection each time (as a load balancer's first probe would).
func waitReady(ctx context.Context, base string) (int, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for polls := 1; ; polls++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return polls, nil
			}
		}
		if ctx.Err() != nil {
			return polls, ctx.Err()
		}
		if time.Now().After(deadline) {
			return polls, fmt.Errorf("%s/readyz did not answer 200 within 30s (last: %v)", base, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// baselineRequest is what the baseline reads: the members a verify
// request carries.
type baselineRequest struct {
	Key         string  `json:"key"`
	Permissions *string `json:"permissions"`
}

// baselineAnswer is what it writes.
type baselineAnswer struct {
	Valid bool   `json:"valid"`
	Code  string `json:"code"`
}

// baselineHandler does the minimum any verify endpoint must do: route the
// request, decode a small JSON body with encoding/json into a small struct
// and encode a small JSON answer. It checks no credential and looks
// nothing up.
func baselineHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/keys/verify", func(w http.ResponseWriter, r *http.Request) {
		var in baselineRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.Key == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(baselineAnswer{Valid: false, Code: "BAD_REQUEST"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(baselineAnswer{Valid: true, Code: "VALID"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
	return mux
}

func (h *harness) startBaseline(addr string) (*server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serve("baseline", ln, khttp.NewHTTPServer(baselineHandler(), h.log)), nil
}

// startServer serves handler on a free loopback port.
func (h *harness) startServer(name string, handler http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return serve(name, ln, khttp.NewHTTPServer(handler, h.log)), nil
}
