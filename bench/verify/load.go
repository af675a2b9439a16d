package main

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// target is a server as the client sees it. Both servers get the same
// client construction, headers and bodies; only the expected answer to a
// flood token differs (the baseline says VALID to everything).
type target struct {
	name    string
	url     string // the verify endpoint
	auth    string // Authorization header value
	client  *http.Client
	tr      *http.Transport
	dials   atomic.Int64
	keyward bool
	// cold walks the mix's cold keys for this server alone, so draws
	// against the baseline do not use up keyward's cache misses.
	cold atomic.Uint64
}

// newTarget returns a keep-alive client with exactly conns connections.
func newTarget(name, base, mgmt string, conns int, isKeyward bool) *target {
	t := &target{name: name, url: base + "/v1/keys/verify", auth: "Bearer " + mgmt, keyward: isKeyward}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			t.dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
	t.client = &http.Client{Transport: t.tr}
	return t
}

// kind is what a request carries.
type kind uint8

const (
	kindHot       kind = iota // a key of the hot set: a cache hit once primed
	kindCold                  // a key outside the hot set, each drawn once: a cache miss
	kindFloodBad              // random keyward-format token, bad checksum
	kindFloodGood             // random keyward-format token, good checksum (a lookup that finds nothing)
)

func (k kind) flood() bool { return k >= kindFloodBad }

// mix draws the tokens of a phase. Hot keys are the first hotKeys tokens;
// cold keys are the others in a shuffled order walked once by all workers
// together, so a cold draw is a key not seen before until the walk wraps
// (counted as a repeat: it may then hit the cache).
type mix struct {
	tokens    *tokenTable
	hot       int
	cold      []uint32
	hitRatio  float64
	floodGood float64
	perms     []byte // `,"permissions":"…"` or empty
}

func newMix(tokens *tokenTable, n, hot int, hitRatio, floodGood float64, perms string) *mix {
	m := &mix{tokens: tokens, hot: hot, hitRatio: hitRatio, floodGood: floodGood}
	m.cold = make([]uint32, 0, n-hot)
	for i := hot; i < n; i++ {
		m.cold = append(m.cold, uint32(i))
	}
	mrand.Shuffle(len(m.cold), func(i, j int) { m.cold[i], m.cold[j] = m.cold[j], m.cold[i] })
	if perms != "" {
		m.perms = []byte(`,"permissions":` + strconv.Quote(perms))
	}
	return m
}

// drawer is one worker's view of the mix.
type drawer struct {
	m      *mix
	cursor *atomic.Uint64
	rng    *mrand.Rand
	cha    *mrand.ChaCha8
	flood  float64
	cold   int64
	reps   int64
}

func (m *mix) drawer(t *target, flood float64) *drawer {
	var s [32]byte
	for i := range s {
		s[i] = byte(mrand.Uint32())
	}
	return &drawer{m: m, rng: mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64())), cha: mrand.NewChaCha8(s), flood: flood, cursor: &t.cold}
}

// body returns the JSON body of the next request and what it carries.
func (d *drawer) next() ([]byte, kind) {
	var tok []byte
	k := kindHot
	switch {
	case d.flood > 0 && d.rng.Float64() < d.flood:
		t, err := keyward.NewToken(tokenPrefix, d.cha)
		if err != nil {
			panic(err) // ChaCha8 never fails
		}
		tok = []byte(t.Reveal())
		k = kindFloodGood
		if d.rng.Float64() >= d.m.floodGood {
			breakChecksum(tok)
			k = kindFloodBad
		}
	case len(d.m.cold) > 0 && d.rng.Float64() >= d.m.hitRatio:
		i := d.cursor.Add(1) - 1
		d.cold++
		if i >= uint64(len(d.m.cold)) {
			d.reps++
		}
		tok = d.m.tokens.at(int(d.m.cold[i%uint64(len(d.m.cold))]))
		k = kindCold
	default:
		tok = d.m.tokens.at(d.rng.IntN(d.m.hot))
	}
	return verifyBody(tok, d.m.perms), k
}

// breakChecksum changes the last checksum character of a keyward token:
// still keyward's format, checksum wrong.
func breakChecksum(tok []byte) {
	last := &tok[len(tok)-1]
	if *last == 'z' {
		*last = 'y'
	} else {
		*last = 'z'
	}
}

func verifyBody(tok, perms []byte) []byte {
	b := make([]byte, 0, len(`{"key":""}`)+len(tok)+len(perms))
	b = append(b, `{"key":"`...)
	b = append(b, tok...)
	b = append(b, '"')
	b = append(b, perms...)
	return append(b, '}')
}

// exchange sends one verification and checks the answer: 200 and the
// expected code. It returns "" or the kind of error.
func (t *target) exchange(ctx context.Context, body []byte, expect string, buf *bytes.Buffer) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return "request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", t.auth)
	res, err := t.client.Do(req)
	if err != nil {
		return "transport: " + shortErr(err)
	}
	buf.Reset()
	_, err = buf.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil {
		return "read: " + shortErr(err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Sprintf("HTTP %d: %.200s", res.StatusCode, bytes.TrimSpace(buf.Bytes()))
	}
	if code := codeOf(buf.Bytes()); code != expect {
		return fmt.Sprintf("code %q, want %q", code, expect)
	}
	return ""
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s) > 120 {
		s = s[i+2:]
	}
	return s
}

// codeOf returns the value of the first "code" member of a JSON object
// (the verify answer's top-level code comes before any nested object).
func codeOf(b []byte) string {
	i := bytes.Index(b, []byte(`"code"`))
	if i < 0 {
		return ""
	}
	b = bytes.TrimLeft(b[i+len(`"code"`):], " \t\r\n")
	if len(b) == 0 || b[0] != ':' {
		return ""
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	if len(b) == 0 || b[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return ""
	}
	return string(b[1 : 1+end])
}

// expected returns the code a request of kind k must get.
func (t *target) expected(k kind) string {
	if k.flood() && t.keyward {
		return string(keyward.VerifyNotFound)
	}
	return string(keyward.VerifyValid)
}

// workerStats is what one worker measured.
type workerStats struct {
	real, flood *histogram
	service     *histogram // paced phases: time from the actual send
	errs        map[string]int64
	cold, reps  int64
}

func newWorkerStats() *workerStats {
	return &workerStats{real: newHistogram(), flood: newHistogram(), service: newHistogram(), errs: map[string]int64{}}
}

// phase describes one measured (or warm-up) stretch against one server.
type phase struct {
	name     string
	round    int
	t        *target
	duration time.Duration
	flood    float64
	rate     float64 // > 0: open loop at this many requests per second in total
}

// classResult is one class of requests (real keys, flood tokens).
type classResult struct {
	Requests int64   `json:"requests"`
	RPS      float64 `json:"requests_per_second"`
	Latency  latency `json:"latency"`
}

// phaseResult is what the report shows of a phase.
type phaseResult struct {
	Phase       string           `json:"phase"`
	Server      string           `json:"server"`
	Round       int              `json:"round,omitempty"`
	Conns       int              `json:"conns"`
	Seconds     float64          `json:"seconds"`
	Requests    int64            `json:"requests"`
	Errors      int64            `json:"errors"`
	ErrorKinds  map[string]int64 `json:"error_kinds,omitempty"`
	RPS         float64          `json:"requests_per_second"`
	Latency     latency          `json:"latency"`
	NewConns    int64            `json:"new_connections"`
	ColdDraws   int64            `json:"cold_draws"`
	ColdRepeats int64            `json:"cold_repeats"`
	Real        *classResult     `json:"real_keys,omitempty"`
	Flood       *classResult     `json:"flood,omitempty"`
	TargetRPS   float64          `json:"target_rps,omitempty"`
	// SelfCPU and OtherCPU are the shares of the machine's CPU capacity
	// this process (client and servers) and all other processes used
	// during the phase; −1 when unknown (not Linux).
	SelfCPU     float64  `json:"self_cpu_share"`
	OtherCPU    float64  `json:"other_processes_cpu_share"`
	ServiceTime *latency `json:"service_time,omitempty"`

	all, real, flood *histogram
}

// run drives the phase's target with conns workers, each on its own
// keep-alive connection, and merges what they measured. Closed loop: each
// worker sends its next request when the previous answer is in. Open loop
// (rate > 0): each worker sends on a fixed schedule, and a request delayed
// because the server had not answered the previous one by its scheduled
// time counts from that time, so a server that falls behind is not excused
// (coordinated omission).
func (m *mix) run(ctx context.Context, p phase, conns int) *phaseResult {
	dials0 := p.t.dials.Load()
	stats := make([]*workerStats, conns)
	var wg sync.WaitGroup
	start := make(chan struct{})
	var t0 time.Time
	for w := range conns {
		st := newWorkerStats()
		stats[w] = st
		d := m.drawer(p.t, p.flood)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			<-start
			deadline := t0.Add(p.duration)
			var interval time.Duration
			next, prevDone := t0, t0
			if p.rate > 0 {
				interval = time.Duration(float64(conns) / p.rate * float64(time.Second))
				next = t0.Add(interval * time.Duration(w) / time.Duration(conns))
			}
			for ctx.Err() == nil {
				now := time.Now()
				if p.rate > 0 {
					if !next.Before(deadline) {
						break
					}
					if wait := next.Sub(now); wait > 0 {
						time.Sleep(wait)
					}
				} else if !now.Before(deadline) {
					break
				}
				body, k := d.next()
				sent := time.Now()
				e := p.t.exchange(ctx, body, p.t.expected(k), &buf)
				done := time.Now()
				// A request sent late because the previous answer on
				// this connection came after its scheduled time counts
				// from the schedule; one sent late only because the
				// client's timer woke late counts from when it was sent.
				intended := sent
				if prevDone.After(next) {
					intended = next
				}
				prevDone = done
				if ctx.Err() != nil {
					break // interrupted: not an error of the server
				}
				switch {
				case e != "":
					st.errs[e]++
				case p.rate > 0:
					st.real.record(done.Sub(intended))
					st.service.record(done.Sub(sent))
				case k.flood():
					st.flood.record(done.Sub(sent))
				default:
					st.real.record(done.Sub(sent))
				}
				next = next.Add(interval)
			}
			st.cold, st.reps = d.cold, d.reps
		}()
	}
	cpu0 := readCPU()
	t0 = time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	selfCPU, otherCPU := cpuShares(cpu0, readCPU())

	r := &phaseResult{Phase: p.name, Server: p.t.name, Round: p.round, Conns: conns, Seconds: elapsed.Seconds(),
		TargetRPS: p.rate, SelfCPU: selfCPU, OtherCPU: otherCPU, all: newHistogram(), real: newHistogram(), flood: newHistogram(), ErrorKinds: map[string]int64{}}
	service := newHistogram()
	for _, st := range stats {
		r.real.merge(st.real)
		r.flood.merge(st.flood)
		service.merge(st.service)
		for e, n := range st.errs {
			r.ErrorKinds[e] += n
			r.Errors += n
		}
		r.ColdDraws += st.cold
		r.ColdRepeats += st.reps
	}
	r.all.merge(r.real)
	r.all.merge(r.flood)
	r.Requests = int64(r.all.n)
	r.RPS = float64(r.Requests) / r.Seconds
	r.Latency = r.all.summary()
	r.NewConns = p.t.dials.Load() - dials0
	if p.flood > 0 {
		r.Real = &classResult{Requests: int64(r.real.n), RPS: float64(r.real.n) / r.Seconds, Latency: r.real.summary()}
		r.Flood = &classResult{Requests: int64(r.flood.n), RPS: float64(r.flood.n) / r.Seconds, Latency: r.flood.summary()}
	}
	if p.rate > 0 {
		s := service.summary()
		r.ServiceTime = &s
	}
	if len(r.ErrorKinds) == 0 {
		r.ErrorKinds = nil
	}
	return r
}

// visit verifies each of the tokens idx once, with conns workers, expecting
// VALID: to prime a cache. It returns what it measured.
func (m *mix) visit(ctx context.Context, name string, t *target, idx []int, conns int) *phaseResult {
	dials0 := t.dials.Load()
	stats := make([]*workerStats, conns)
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := readCPU()
	t0 := time.Now()
	for w := range conns {
		st := newWorkerStats()
		stats[w] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(idx)) {
					return
				}
				body := verifyBody(m.tokens.at(idx[i]), m.perms)
				sent := time.Now()
				if e := t.exchange(ctx, body, string(keyward.VerifyValid), &buf); e != "" {
					if ctx.Err() == nil {
						st.errs[e]++
					}
					continue
				}
				st.real.record(time.Since(sent))
			}
		}()
	}
	wg.Wait()
	r := &phaseResult{Phase: name, Server: t.name, Conns: conns, Seconds: time.Since(t0).Seconds(), all: newHistogram(), ErrorKinds: map[string]int64{}}
	r.SelfCPU, r.OtherCPU = cpuShares(cpu0, readCPU())
	for _, st := range stats {
		r.all.merge(st.real)
		for e, n := range st.errs {
			r.ErrorKinds[e] += n
			r.Errors += n
		}
	}
	r.real = r.all
	r.Requests = int64(r.all.n)
	r.RPS = float64(r.Requests) / r.Seconds
	r.Latency = r.all.summary()
	r.NewConns = t.dials.Load() - dials0
	if len(r.ErrorKinds) == 0 {
		r.ErrorKinds = nil
	}
	return r
}
