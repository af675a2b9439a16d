package http

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/service"
)

// Idempotency-Key bounds: long enough that the key derived from it to seal
// the remembered answer is not guessable (use a random UUID).
const (
	minIdempotencyKey = 16
	maxIdempotencyKey = 255
)

// replayedHeaders are the headers of an answer that a replay repeats.
var replayedHeaders = []string{"Content-Type", "Location", "ETag"}

// idempotent runs h at most once per Idempotency-Key (see
// service.Idempotent); without the header it just runs h.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, a *keyward.Actor, h managedFunc) error {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return h(w, r, a)
	}
	if len(key) < minIdempotencyKey || len(key) > maxIdempotencyKey || !printableASCII(key) {
		return api.BadParam("Idempotency-Key", "must be %d to %d printable ASCII characters (a random UUID is a good choice)", minIdempotencyKey, maxIdempotencyKey)
	}
	body, err := api.ReadRawBody(r)
	if err != nil {
		return err
	}
	// The request's identity: route, path, query and body. The pretty flag
	// only changes the rendering, so it is part of it too: a replay looks
	// exactly like the first answer.
	request := []byte(r.Method + " " + r.URL.RequestURI() + "\n" + r.Header.Get("Content-Type") + "\n")
	request = append(request, body...)
	ans, replayed, err := s.svc.Idempotent(r.Context(), a, key, request, func() (*service.Answer, error) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &recorder{header: http.Header{}}
		if err := h(rec, r, a); err != nil {
			return nil, err
		}
		ans := &service.Answer{Status: rec.status, Body: rec.body.Bytes(), Header: map[string]string{}}
		if ans.Status == 0 {
			ans.Status = http.StatusOK
		}
		for _, name := range replayedHeaders {
			if v := rec.header.Get(name); v != "" {
				ans.Header[name] = v
			}
		}
		return ans, nil
	})
	if err != nil {
		return err
	}
	for name, v := range ans.Header {
		w.Header().Set(name, v)
	}
	w.Header().Set("Idempotent-Replayed", strconv.FormatBool(replayed))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(ans.Body)))
	w.WriteHeader(ans.Status)
	_, err = w.Write(ans.Body)
	return err
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// recorder captures a handler's answer so it can be remembered.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
