package pgtest

import (
	"errors"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy a test puts between keyward and PostgreSQL to
// simulate an outage without touching the real server (which the tests of
// other packages share): Cut closes every piped connection and stops
// listening, so keyward sees a database that went away (connections
// dropped, new ones refused); Restore listens again on the same address,
// as a database that came back. Freeze simulates a network partition
// instead: connections stay open but no byte goes through either way
// (new ones are accepted and left hanging) until Thaw.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]bool // true for the client side
	accepted int
	closed   bool
	gate     chan struct{} // closed while data flows; open while frozen
	down     chan struct{} // closed by Cut, for the connections of the current listener
	wg       sync.WaitGroup
}

// ProxyURL starts a Proxy to the host of dbURL (a postgres:// URL with a
// TCP host) and returns it with dbURL rewritten to go through it. The proxy
// is closed when the test ends.
func ProxyURL(t testing.TB, dbURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest.ProxyURL: %v", err)
	}
	if u.Host == "" || u.Query().Get("host") != "" {
		t.Fatalf("pgtest.ProxyURL: %s must name a TCP host (host:port) for the outage proxy", EnvVar)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := NewProxy(t, target)
	u.Host = p.Addr()
	return p, u.String()
}

// NewProxy starts a proxy on a free loopback port that pipes every
// connection to target (host:port). It is closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest proxy: %v", err)
	}
	gate := make(chan struct{})
	close(gate)
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}, gate: gate}
	p.serve(ln)
	t.Cleanup(p.Close)
	return p
}

// Addr returns the address the proxy listens on (the same after Restore).
func (p *Proxy) Addr() string { return p.addr }

// Accepted returns how many connections the proxy has accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Up reports whether the proxy is listening.
func (p *Proxy) Up() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ln != nil
}

// Cut takes the database away: it stops listening (new connections are
// refused) and closes every piped connection. It returns how many client
// connections it closed. Cutting a cut proxy does nothing.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	if p.down != nil && !closed(p.down) {
		close(p.down)
	}
	n := 0
	for c, client := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // reset, as a crashed or killed server's peer sees it
		}
		c.Close()
		if client {
			n++
		}
	}
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	p.wg.Wait() // the accept loop and every pipe have ended
	return n
}

// Restore brings the database back: the proxy listens again on the same
// address. It fails the test if the address cannot be bound within 10 s.
func (p *Proxy) Restore() {
	p.t.Helper()
	p.mu.Lock()
	if p.ln != nil || p.closed {
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("pgtest proxy: listen again on %s: %v", p.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Freeze partitions the network: every connection stays open but nothing
// passes until Thaw, and new connections are accepted but not connected
// to PostgreSQL until Thaw. Cut still drops everything.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default: // already frozen
	}
}

// Thaw ends a Freeze: held data and connections go through.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// flowing returns a channel closed once data may flow.
func (p *Proxy) flowing() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gate
}

// Close cuts the proxy for good.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Cut()
}

func (p *Proxy) serve(ln net.Listener) {
	down := make(chan struct{})
	p.mu.Lock()
	p.ln, p.down = ln, down
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return // closed by Cut
			}
			p.mu.Lock()
			if p.ln != ln {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.accepted++
			p.conns[c] = true
			p.wg.Add(1)
			p.mu.Unlock()
			go p.pipe(ln, c, down)
		}
	}()
}

// pipe connects c to the target once data may flow, unless the listener it
// came from was cut meanwhile, and copies both ways until either side ends.
func (p *Proxy) pipe(ln net.Listener, c net.Conn, down <-chan struct{}) {
	defer p.wg.Done()
	select {
	case <-p.flowing():
	case <-down:
	}
	var s net.Conn
	err := errors.New("cut")
	if !closed(down) {
		s, err = net.DialTimeout("tcp", p.target, 5*time.Second)
	}
	p.mu.Lock()
	if err != nil || p.ln != ln {
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
		if s != nil {
			s.Close()
		}
		return
	}
	p.conns[s] = false
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go p.copy(s, c, down, &wg)
	go p.copy(c, s, down, &wg)
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// copy copies src to dst, holding each chunk while the proxy is frozen;
// when either side ends it closes both.
func (p *Proxy) copy(dst, src net.Conn, down <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	defer func() {
		dst.Close()
		src.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-p.flowing():
			case <-down:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
