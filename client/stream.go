package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/keyward/keyward"
)

// The events of the invalidation stream (GET /v1/invalidations).
const (
	// EventHello starts a stream: forget every cached verification (what
	// changed before it is unknown).
	EventHello = "hello"
	// EventInvalidate names what a change made stale.
	EventInvalidate = "invalidate"
	// EventHeartbeat arrives every second: a stream silent for three
	// heartbeats can no longer be trusted.
	EventHeartbeat = "heartbeat"
)

// maxEventLine bounds one line of the stream.
const maxEventLine = 64 << 10

// InvalidationEvent is one event of the invalidation stream.
type InvalidationEvent struct {
	// Type is EventHello, EventInvalidate, EventHeartbeat, or a type this
	// client does not know yet (skip it).
	Type string
	// FeedHealthy, on hello and heartbeat, is false while the server may
	// itself be missing changes made on other nodes: a cache must not be
	// trusted then.
	FeedHealthy bool
	// Invalidation is what an invalidate event names (InvalidateAll: every
	// cached verification).
	Invalidation keyward.Invalidation
	// Data is the event's raw data.
	Data string
}

// InvalidationStream reads the server-sent events of GET /v1/invalidations.
// It is not safe for concurrent use; Close may be called from another
// goroutine to end a blocked Next.
type InvalidationStream struct {
	// Response holds the stream's status and headers (Body is nil).
	Response Response
	body     io.ReadCloser
	r        *bufio.Reader
}

// WatchInvalidations opens the invalidation stream: what makes cached
// verifications stale, as this server learns of it (its own changes, and
// other nodes' on a shared database), for remote verifiers that keep a
// cache. It needs keys:verify; an account-bound key receives its account's
// events only. The stream lasts until ctx ends, Close is called or the
// server goes away (Next returns an error): the client's WithRequestTimeout
// does not apply to it, and neither should an http.Client Timeout.
func (c *Client) WatchInvalidations(ctx context.Context, opts ...CallOption) (*InvalidationStream, error) {
	r := request{method: http.MethodGet, path: segs("/v1/invalidations"), accept: "text/event-stream, application/problem+json"}
	res, cl, raw, err := c.send(ctx, r, append([]CallOption{RequestTimeout(0)}, opts...))
	if err != nil {
		return nil, err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		defer res.Body.Close()
		body, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
		if err != nil {
			return nil, transportError(ctx, r.method, raw, err)
		}
		resp := newResponse(res, body)
		if cl.capture != nil {
			*cl.capture = *resp
		}
		return nil, problemError(r.method, raw, resp)
	}
	resp := newResponse(res, nil)
	if cl.capture != nil {
		*cl.capture = *resp
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "text/event-stream" {
		res.Body.Close()
		return nil, fmt.Errorf("keyward client: %s %s: the answer is %q, not an event stream", r.method, raw, res.Header.Get("Content-Type"))
	}
	return &InvalidationStream{Response: *resp, body: res.Body, r: bufio.NewReader(res.Body)}, nil
}

// Next returns the next event, blocking until one arrives. It returns
// io.EOF when the server ends the stream, and the read error when the
// connection fails or the stream is closed; a malformed invalidate event is
// an error too (treat it as a lost stream: flush and reconnect).
func (s *InvalidationStream) Next() (*InvalidationEvent, error) {
	var (
		ev   InvalidationEvent
		data []string
		seen bool
	)
	for {
		line, err := s.line()
		if err != nil {
			if errors.Is(err, io.EOF) && seen {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if line == "" {
			if !seen {
				continue
			}
			return decodeEvent(ev.Type, strings.Join(data, "\n"))
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Type = value
		case "data":
			data = append(data, value)
		}
	}
}

// Close ends the stream.
func (s *InvalidationStream) Close() error { return s.body.Close() }

// line reads one line without its end (LF, CRLF or CR before LF).
func (s *InvalidationStream) line() (string, error) {
	var buf []byte
	for {
		part, err := s.r.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > maxEventLine {
			return "", fmt.Errorf("keyward client: an invalidation stream line is longer than %d bytes", maxEventLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		return string(bytes.TrimRight(buf, "\r\n")), nil
	}
}

func decodeEvent(typ, data string) (*InvalidationEvent, error) {
	if typ == "" {
		typ = "message" // the SSE default
	}
	ev := &InvalidationEvent{Type: typ, Data: data}
	switch typ {
	case EventHello, EventHeartbeat:
		var h struct {
			FeedHealthy *bool `json:"feed_healthy"`
		}
		if err := json.Unmarshal([]byte(data), &h); err != nil || h.FeedHealthy == nil {
			return nil, fmt.Errorf("keyward client: malformed %s event %q", typ, data)
		}
		ev.FeedHealthy = *h.FeedHealthy
	case EventInvalidate:
		inv, err := keyward.ParseInvalidation(data)
		if err != nil {
			return nil, fmt.Errorf("keyward client: malformed invalidate event: %w", err)
		}
		ev.Invalidation = inv
	}
	return ev, nil
}
