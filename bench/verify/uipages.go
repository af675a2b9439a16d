package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// The budgets of issue 13, point 4: every list page of a 1,000,000-key
// database renders its first page on the server in at most 50 ms, and no
// page is over 150 KB transferred.
const (
	uiBudgetMS    = 50.0
	uiBudgetBytes = 150 * 1000
)

// uiReport is the dashboard phase: the list pages timed over loopback,
// signed in with the fixture's operator key as a browser signs in.
type uiReport struct {
	Holds    string          `json:"database_holds"`
	Seed     string          `json:"dashboard_seed"`
	Reps     int             `json:"repetitions"`
	BudgetMS float64         `json:"budget_ms"`
	BudgetKB float64         `json:"budget_kb"`
	Static   int64           `json:"static_bytes"`
	Pages    []*uiPageTiming `json:"pages"`
	SelfCPU  float64         `json:"self_cpu"`
	OtherCPU float64         `json:"other_cpu"`
	Pass     bool            `json:"pass"`
	Note     string          `json:"note"`
}

// uiPageTiming is one page: its time to the full response, first request
// and over all repetitions, and the bytes of one response on the wire.
type uiPageTiming struct {
	Name    string  `json:"name"`
	Path    string  `json:"path"`
	Status  int     `json:"status"`
	Rows    int     `json:"rows"`
	Next    bool    `json:"has_next_page"`
	FirstMS float64 `json:"first_ms"`
	P50MS   float64 `json:"p50_ms"`
	MaxMS   float64 `json:"max_ms"`
	Bytes   int64   `json:"bytes"`
	// Waits marks a page that waits for a computation over the usage of
	// every key (the busiest keys): timed and weighed, but not held to the
	// list pages' time budget.
	Waits bool `json:"waits,omitempty"`
	Pass  bool `json:"pass"`
}

const uiNote = "server time = from sending the request to the last byte of the response, at the client, over loopback, kept-alive connection, " +
	"session cookie as a browser sends it; bytes = the response as read from the connection (status line, headers, body; keyward sends pages " +
	"uncompressed); the page's CSS and JavaScript (static_bytes) come once per version, cached (immutable); verdict on p50 ≤ budget and bytes + static ≤ budget"

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// uiClient is a browser's view of the dashboard: a cookie jar, no
// redirects followed (each answer is checked), and a count of the bytes
// received.
type uiClient struct {
	base  string
	c     *http.Client
	read  atomic.Int64
	dials atomic.Int64
}

func newUIClient(base string) *uiClient {
	jar, _ := cookiejar.New(nil)
	u := &uiClient{base: base}
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DisableCompression: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		u.dials.Add(1)
		return countingConn{Conn: conn, n: &u.read}, nil
	}}
	u.c = &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return u
}

// get fetches path and returns its status, body, time to the last byte
// and bytes read from the connection.
func (u *uiClient) get(ctx context.Context, path string) (int, string, time.Duration, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base+path, nil)
	if err != nil {
		return 0, "", 0, 0, err
	}
	req.Header.Set("Accept", "text/html")
	return u.do(req)
}

func (u *uiClient) do(req *http.Request) (int, string, time.Duration, int64, error) {
	before := u.read.Load()
	t0 := time.Now()
	res, err := u.c.Do(req)
	if err != nil {
		return 0, "", 0, 0, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	d := time.Since(t0)
	return res.StatusCode, string(body), d, u.read.Load() - before, err
}

var (
	csrfInput  = regexp.MustCompile(`<input[^>]*\bname="csrf"[^>]*>`)
	valueAttr  = regexp.MustCompile(`\bvalue="([^"]*)"`)
	nextAnchor = regexp.MustCompile(`<a[^>]*\bid="next-page"[^>]*>`)
	hrefAttr   = regexp.MustCompile(`\bhref="([^"]*)"`)
	rowAttr    = regexp.MustCompile(`<tr data-(?:key-)?id="`)
	staticRef  = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)
)

// formCSRF returns the csrf field of the first form of a page.
func formCSRF(page string) (string, error) {
	in := csrfInput.FindString(page)
	if in == "" {
		return "", errors.New("the page has no csrf field")
	}
	v := valueAttr.FindStringSubmatch(in)
	if v == nil || v[1] == "" {
		return "", errors.New("the csrf field has no value")
	}
	return html.UnescapeString(v[1]), nil
}

// nextLink returns the address of a list page's a#next-page, "" if none.
func nextLink(page string) string {
	a := nextAnchor.FindString(page)
	if a == "" {
		return ""
	}
	h := hrefAttr.FindStringSubmatch(a)
	if h == nil {
		return ""
	}
	return html.UnescapeString(h[1])
}

// signIn signs in as a browser does: GET /sign-in for the form's csrf
// token and the sign-in cookie, POST /sign-in with the key, a 303 to /
// that sets the session cookie.
func (u *uiClient) signIn(ctx context.Context, key string) error {
	status, page, _, _, err := u.get(ctx, "/sign-in")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET /sign-in: HTTP %d", status)
	}
	csrf, err := formCSRF(page)
	if err != nil {
		return fmt.Errorf("GET /sign-in: %w", err)
	}
	form := url.Values{"csrf": {csrf}, "key": {key}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.base+"/sign-in", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.base)
	res, err := u.c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		return fmt.Errorf("POST /sign-in: HTTP %d to %q, want 303 to /", res.StatusCode, res.Header.Get("Location"))
	}
	base, _ := url.Parse(u.base)
	for _, c := range u.c.Jar.Cookies(base) {
		if c.Name == "keyward_session" && c.Value != "" {
			return nil
		}
	}
	return errors.New("POST /sign-in set no keyward_session cookie")
}

// uiPage is one list page to time: its path, or where to find it.
type uiPage struct {
	name, path string
	nextOf     string // the page whose a#next-page this page is
	waits      bool   // not a list page: see uiPageTiming.Waits
}

// uiPages are the dashboard's list pages: the overview, the keys with
// each filter (values chosen by the dashboard seed: each matches fewer
// keys than a page holds, so the store reads the whole filter to know
// there is no next page) and its second page, searches that match one
// seeded key, 111 (4242, 42420…42429, 424200…424299), every key and none,
// and every other list; and the page of the busiest keys, which the
// overview links to when it does not wait for them.
func uiPages(projectID string) []uiPage {
	return []uiPage{
		{name: "overview", path: "/"},
		{name: "busiest keys", path: "/busiest-keys?range=24h", waits: true},
		{name: "keys", path: "/keys"},
		{name: "keys page 2", nextOf: "keys"},
		{name: "keys status", path: "/keys?status=disabled"},
		{name: "keys owner", path: "/keys?owner=user"},
		{name: "keys project", path: "/keys?project=" + url.QueryEscape(projectID)},
		{name: "keys mode", path: "/keys?mode=read_only"},
		{name: "keys q", path: "/keys?q=" + url.QueryEscape("bench key 999999")},
		{name: "keys q 111", path: "/keys?q=" + url.QueryEscape("key 4242")},
		{name: "keys q all", path: "/keys?q=" + url.QueryEscape("bench key")},
		{name: "keys q none", path: "/keys?q=" + url.QueryEscape("no such name")},
		{name: "keys expiring", path: "/keys?expires_within=90d"},
		{name: "management keys", path: "/management-keys"},
		{name: "users", path: "/users"},
		{name: "service accounts", path: "/service-accounts"},
		{name: "roles", path: "/roles"},
		{name: "catalog", path: "/catalog"},
		{name: "projects", path: "/projects"},
		{name: "audit", path: "/audit"},
	}
}

// measureUI signs in to the dashboard with the operator key and times
// every list page reps times.
func (h *harness) measureUI(ctx context.Context, base string, fx *fixture, seed *uiSeed) (*uiReport, error) {
	reps := h.cfg.uiReps
	u := newUIClient(base)
	defer u.c.CloseIdleConnections()
	if err := u.signIn(ctx, fx.operator); err != nil {
		return nil, fmt.Errorf("dashboard: sign in with the operator key: %w", err)
	}
	rep := &uiReport{Holds: seed.holds(fx), Seed: seed.desc, Reps: reps, BudgetMS: uiBudgetMS, BudgetKB: uiBudgetBytes / 1000, Pass: true, Note: uiNote}
	stop := h.startProfile()
	defer stop()
	cpu0 := readCPU()
	seen := map[string]string{}
	static := map[string]bool{}
	for _, p := range uiPages(seed.projectID) {
		path := p.path
		if p.nextOf != "" {
			if path = nextLink(seen[p.nextOf]); path == "" {
				return nil, fmt.Errorf("dashboard: %s has no a#next-page", p.nextOf)
			}
		}
		t := &uiPageTiming{Name: p.name, Path: path, Waits: p.waits}
		hist := newHistogram()
		for i := range reps {
			status, body, d, n, err := u.get(ctx, path)
			if err != nil {
				return nil, fmt.Errorf("dashboard: GET %s: %w", path, err)
			}
			if status != http.StatusOK {
				return nil, fmt.Errorf("dashboard: GET %s: HTTP %d: %.300s", path, status, body)
			}
			hist.record(d)
			if i == 0 {
				t.Status, t.FirstMS, t.Bytes = status, ms(d), n
				t.Rows, t.Next = len(rowAttr.FindAllStringIndex(body, -1)), nextLink(body) != ""
				seen[p.name] = body
				for _, m := range staticRef.FindAllStringSubmatch(body, -1) {
					static[html.UnescapeString(m[1])] = true
				}
			}
		}
		t.P50MS, t.MaxMS = ms(hist.quantile(0.5)), ms(time.Duration(hist.max))
		rep.Pages = append(rep.Pages, t)
		h.progressf("dashboard %-17s p50 %6.2f ms  max %6.2f ms  %6.1f KB  %d rows", p.name, t.P50MS, t.MaxMS, float64(t.Bytes)/1000, t.Rows)
	}
	rep.SelfCPU, rep.OtherCPU = cpuShares(cpu0, readCPU())
	stop()
	for path := range static {
		status, body, _, n, err := u.get(ctx, path)
		if err != nil || status != http.StatusOK {
			return nil, fmt.Errorf("dashboard: GET %s: HTTP %d %v: %.200s", path, status, err, body)
		}
		rep.Static += n
	}
	for _, t := range rep.Pages {
		t.Pass = (t.Waits || t.P50MS <= uiBudgetMS) && t.Bytes+rep.Static <= uiBudgetBytes
		rep.Pass = rep.Pass && t.Pass
	}
	return rep, nil
}

// startProfile starts --cpuprofile if it is set and not running yet; the
// returned function stops it (and may be called more than once).
func (h *harness) startProfile() func() {
	if h.cfg.cpuProfile == "" || !h.cfg.uiOnly {
		return func() {}
	}
	f, err := os.Create(h.cfg.cpuProfile)
	if err != nil {
		h.progressf("--cpuprofile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		h.progressf("--cpuprofile: %v", err)
		return func() {}
	}
	done := false
	return func() {
		if !done {
			done = true
			pprof.StopCPUProfile()
			f.Close()
		}
	}
}

// uiSeed is what the dashboard phase added to the database, once, through
// the service as the operator (so the audit log records it): users,
// service accounts and projects (more than a page each), roles, and a few
// API keys for each filter of the key list.
type uiSeed struct {
	desc      string
	projectID string
	keys      int
}

// uiSeedCounts are the objects the dashboard seed creates.
const (
	uiSeedMembers = 60 // users, service accounts and projects each: more than a page
	uiSeedRoles   = 3
	uiSeedPerKind = 20 // API keys per filter value: fewer than a page of the key list
)

func (s *uiSeed) holds(fx *fixture) string {
	return fmt.Sprintf("%s API keys of the load fixture (active, owner the account, no project, no expiry, mode all) + %s", count(fx.tokens.len()), s.desc)
}

// uiFixturePath is the dashboard phase's file next to the token fixture:
// the operator key it signs in with and what it seeded (benchmark data,
// mode 0600, deleted with the database).
func (h *harness) uiFixturePath() string {
	return strings.TrimSuffix(h.fixturePath(), ".bench-tokens") + ".bench-ui"
}

const uiFixtureHeader = "# keyward bench/verify dashboard fixture: BENCHMARK DATA ONLY. An operator key of the database the load harness\n" +
	"# seeded, for the dashboard phase's sign-in, and what that phase seeded. Delete this file together with that database.\n"

// loadUIFixture reads the dashboard's file into fx, if there is one.
func loadUIFixture(path string, fx *fixture) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for n, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "operator "):
			fx.operator = strings.TrimPrefix(line, "operator ")
		case strings.HasPrefix(line, "ui-seed "):
			fx.uiSeed = strings.TrimPrefix(line, "ui-seed ")
		default:
			return fmt.Errorf("%s:%d: not a line of the dashboard fixture; delete the file to start the dashboard phase afresh", path, n+1)
		}
	}
	return nil
}

// ensureOperator gives the fixture an operator key for the dashboard's
// sign-in: the one in the dashboard's file after checking it against the
// database, or a new one seeded as the harness's management key is
// (straight through the store, no audit event).
func (h *harness) ensureOperator(ctx context.Context, st keyward.Store, fx *fixture) error {
	path := h.uiFixturePath()
	if err := loadUIFixture(path, fx); err != nil {
		return err
	}
	if fx.operator != "" {
		err := st.Read(ctx, func(tx keyward.Tx) error {
			m, err := tx.FindKeyByHash(ctx, keyward.TokenFromString(fx.operator).Hash())
			if err != nil {
				return err
			}
			if m.Key.Kind != keyward.KindManagement || m.Key.Status != keyward.StatusActive || !m.Key.Operator {
				return fmt.Errorf("key %s is not an active operator key", m.Key.ID)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s does not match the database (operator key: %v): delete the file to start the dashboard phase afresh", path, err)
		}
		return nil
	}
	fx.uiSeed = "" // a seed without its operator key is not this database's
	acct, err := fixtureAccount(ctx, st, fx)
	if err != nil {
		return err
	}
	k := &keyward.Key{Kind: keyward.KindManagement, Operator: true, Name: "bench/verify dashboard operator", Status: keyward.StatusActive,
		Prefix: keyward.DefaultManagementPrefix, Owner: keyward.Owner{Type: keyward.OwnerAccount, ID: acct.ID},
		Permissions: keyward.AllManagementPermissions()}
	tok, err := keyward.NewToken(k.Prefix, nil)
	if err != nil {
		return err
	}
	now := keyward.Timestamp(time.Now())
	stampSeed(k, keyward.NewIDs(keyward.SystemClock), tok, now)
	if err := st.Write(ctx, func(tx keyward.Tx) error { return tx.CreateKey(ctx, k, tok.Hash()) }); err != nil {
		return fmt.Errorf("operator key: %w", err)
	}
	if err := os.WriteFile(path, []byte(uiFixtureHeader+"operator "+tok.Reveal()+"\n"), 0o600); err != nil {
		return err
	}
	fx.operator = tok.Reveal()
	return os.Chmod(path, 0o600)
}

// seedUI adds the dashboard's objects once (the fixture remembers it).
func (h *harness) seedUI(ctx context.Context, svc *service.Service, fx *fixture) (*uiSeed, error) {
	a, err := svc.Authenticate(ctx, service.Credential{Token: keyward.TokenFromString(fx.operator), ClientIP: "127.0.0.1"})
	if err != nil {
		return nil, fmt.Errorf("dashboard seed: the operator key: %w", err)
	}
	if fx.uiSeed != "" {
		projects, _, err := svc.ListProjects(ctx, a, keyward.Page{Limit: 1})
		if err != nil || len(projects) == 0 {
			return nil, fmt.Errorf("dashboard seed: the fixture says %q, but the database has no project (%v): delete the fixture and the database", fx.uiSeed, err)
		}
		// The oldest seeded project holds the project filter's keys.
		all, _, err := svc.ListProjects(ctx, a, keyward.Page{Limit: 100})
		if err != nil {
			return nil, err
		}
		return &uiSeed{desc: fx.uiSeed, projectID: all[len(all)-1].ID}, nil
	}
	h.progressf("dashboard seed: users, service accounts, projects, roles and %d API keys through the service", 5*uiSeedPerKind)
	start := time.Now()
	writes := 0
	var firstProject, firstUser string
	for i := 1; i <= uiSeedMembers; i++ {
		p, err := svc.CreateProject(ctx, a, &keyward.ProjectFields{Name: keyward.Some(fmt.Sprintf("bench project %d", i))})
		if err != nil {
			return nil, fmt.Errorf("dashboard seed: project: %w", err)
		}
		u, err := svc.CreateUser(ctx, a, &keyward.UserFields{ExternalID: keyward.Some(fmt.Sprintf("bench-user-%d", i)),
			Email: keyward.Some(fmt.Sprintf("bench-user-%d@example.test", i)), Name: keyward.Some(fmt.Sprintf("Bench User %d", i))})
		if err != nil {
			return nil, fmt.Errorf("dashboard seed: user: %w", err)
		}
		if _, err := svc.CreateServiceAccount(ctx, a, &keyward.ServiceAccountFields{Name: keyward.Some(fmt.Sprintf("bench service %d", i))}); err != nil {
			return nil, fmt.Errorf("dashboard seed: service account: %w", err)
		}
		if i == 1 {
			firstProject, firstUser = p.ID, u.ID
		}
		writes += 3
	}
	for i := 1; i <= uiSeedRoles; i++ {
		if _, err := svc.CreateRole(ctx, a, &keyward.RoleFields{Name: keyward.Some(fmt.Sprintf("bench-role-%d", i)),
			Description: keyward.Some("dashboard benchmark role")}); err != nil {
			return nil, fmt.Errorf("dashboard seed: role: %w", err)
		}
		writes++
	}
	// "Expires within 90 days" finds these keys for 80 days after the
	// seed (the seed is reused; later the filter finds none).
	expires := svc.Now().Add(80 * 24 * time.Hour)
	variants := []struct {
		what string
		in   keyward.KeyFields
	}{
		{"disabled", keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)}},
		{"owned by a user", keyward.KeyFields{Owner: keyward.Some(keyward.Owner{Type: keyward.OwnerUser, ID: firstUser})}},
		{"in a project", keyward.KeyFields{ProjectID: keyward.Some(firstProject)}},
		{"read_only", keyward.KeyFields{PermissionMode: keyward.Some(keyward.ModeReadOnly)}},
		{"expiring", keyward.KeyFields{ExpiresAt: keyward.Some(expires)}},
	}
	for _, v := range variants {
		for i := 1; i <= uiSeedPerKind; i++ {
			in := v.in
			in.Name = keyward.Some(fmt.Sprintf("dashboard %s %d", v.what, i))
			if _, _, err := svc.CreateKey(ctx, a, keyward.KindAPI, &in); err != nil {
				return nil, fmt.Errorf("dashboard seed: key %s: %w", v.what, err)
			}
			writes++
		}
	}
	desc := fmt.Sprintf("dashboard seed of %s: %d users, %d service accounts, %d projects, %d roles, %d API keys (%d each disabled, owned by a user, in a project, read_only, expiring %s), %d audit events (one per write)",
		time.Now().UTC().Format(time.DateOnly), uiSeedMembers, uiSeedMembers, uiSeedMembers, uiSeedRoles, len(variants)*uiSeedPerKind, uiSeedPerKind,
		expires.UTC().Format(time.DateOnly), writes)
	if err := appendFixture(h.uiFixturePath(), "ui-seed "+desc); err != nil {
		return nil, err
	}
	fx.uiSeed = desc
	h.progressf("dashboard seed: %d writes in %.1f s", writes, time.Since(start).Seconds())
	return &uiSeed{desc: desc, projectID: firstProject}, nil
}

// appendFixture adds one line to the fixture.
func appendFixture(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// printUIReport prints the dashboard table.
func printUIReport(p func(string, ...any), r *uiReport) {
	p("")
	p("dashboard list pages (issue 13: first page ≤ %.0f ms on the server, ≤ %.0f KB transferred), signed in with the operator key, %d requests each:", r.BudgetMS, r.BudgetKB, r.Reps)
	p("           database: %s", r.Holds)
	p("           %s", r.Note)
	p("%-17s %-44s %6s %9s %9s %9s %9s %5s %4s %s", "page", "path", "status", "first ms", "p50 ms", "max ms", "KB", "rows", "next", "verdict")
	for _, t := range r.Pages {
		verdict := "ok"
		switch {
		case !t.Pass:
			verdict = "MISS"
		case t.Waits:
			verdict = "waits (not a list page)"
		case t.MaxMS > r.BudgetMS:
			verdict = "ok (max over)"
		}
		path := t.Path
		if len(path) > 44 {
			path = path[:41] + "…"
		}
		p("%-17s %-44s %6d %9.2f %9.2f %9.2f %9.1f %5d %4s %s", t.Name, path, t.Status, t.FirstMS, t.P50MS, t.MaxMS, float64(t.Bytes)/1000, t.Rows, yesNo(t.Next), verdict)
	}
	p("static (CSS + JS, once, then cached): %.1f KB; cpu%% %s, other%% %s during the pages", float64(r.Static)/1000, pct(r.SelfCPU), pct(r.OtherCPU))
	if r.Pass {
		p("VERDICT: every list page within %.0f ms (p50) and %.0f KB", r.BudgetMS, r.BudgetKB)
	} else {
		p("VERDICT: some pages miss the budget (MISS above)")
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// uiUsageBatch is the number of keys' counts the usage seed writes at once
// (one AddUsage, one transaction).
const uiUsageBatch = 10_000

// ensureUsage makes every API key of the fixture's account used in the
// last 24 hours, as the overview's worst case has it (issue 13: a million
// keys used in a day): if the usage store counts fewer keys used in the
// last 24 hours than the fixture's keys, every API key of the account (the
// dashboard seed's too) gets counts at a
// minute of the last 23 hours, written through the usage store's write
// path (keyward.UsageStore.AddUsage, as the write-behind writes them) in
// batches. Key i gets 1 + (i·7919 mod 97) VALID verifications (and every
// fifth key a few RATE_LIMITED), so the busiest keys are not a tie.
func (h *harness) ensureUsage(ctx context.Context, st keyward.Store, fx *fixture) error {
	now := time.Now().UTC()
	q, _, _ := keyward.UsageRange{Granularity: keyward.GranularityHour, From: now.Add(-24 * time.Hour)}.Resolve(now)
	q.AccountID = fx.accountID
	start := time.Now()
	rows, err := st.UsageTotals(ctx, &q, keyward.GroupByKey, 0)
	if err != nil {
		return fmt.Errorf("usage seed: keys used in the last 24 hours: %w", err)
	}
	used := map[string]bool{}
	for _, r := range rows {
		used[r.Group] = true
	}
	rows = nil
	if len(used) >= fx.tokens.len() {
		h.progressf("usage seed: %d keys used in the last 24 hours, the fixture has %d (counted in %.1f s)", len(used), fx.tokens.len(), time.Since(start).Seconds())
		return nil
	}
	var keys []*keyward.Key
	f := keyward.KeyFilter{AccountID: fx.accountID, Kind: keyward.KindAPI, Page: keyward.Page{Limit: 5000}}
	for {
		var page []*keyward.Key
		var more bool
		if err := st.Read(ctx, func(tx keyward.Tx) (err error) {
			page, more, err = tx.ListKeys(ctx, &f)
			return err
		}); err != nil {
			return fmt.Errorf("usage seed: list the keys: %w", err)
		}
		keys = append(keys, page...)
		if !more || len(page) == 0 {
			break
		}
		f.StartingAfter = page[len(page)-1].ID
	}
	h.progressf("usage seed: %d of the account's %d API keys used in the last 24 hours (counted in %.1f s)", len(used), len(keys), time.Since(start).Seconds())
	if len(used) >= len(keys) {
		return nil
	}
	start = time.Now()
	minute := keyward.GranularityMinute.Start(now)
	var counts []keyward.UsageCount
	written, batches := 0, 0
	for i, k := range keys {
		project := ""
		if k.ProjectID != nil {
			project = *k.ProjectID
		}
		c := keyward.UsageCount{AccountID: fx.accountID, KeyID: k.ID, Owner: k.Owner, ProjectID: project,
			Outcome: keyward.VerifyValid, Minute: minute.Add(-time.Duration(1+i*37%1380) * time.Minute), Count: int64(1 + i*7919%97)}
		counts = append(counts, c)
		if i%5 == 0 {
			c.Outcome, c.Count = keyward.VerifyRateLimited, int64(1+i%13)
			counts = append(counts, c)
		}
		if len(counts) >= uiUsageBatch || i == len(keys)-1 {
			if err := st.AddUsage(ctx, counts); err != nil {
				return fmt.Errorf("usage seed: %w", err)
			}
			written += len(counts)
			counts = counts[:0]
			if batches++; batches%10 == 0 || i == len(keys)-1 {
				h.progressf("usage seed: %d/%d keys (%d counts) in %.1f s", i+1, len(keys), written, time.Since(start).Seconds())
			}
		}
	}
	return nil
}
