// Package sqlstore implements keyward.Store on database/sql, for the SQL
// databases keyward supports. Queries are written once, in the SQL both
// SQLite and PostgreSQL understand; a Dialect supplies the few differences
// (placeholders, row locks, error classification). Packages sqlite and
// postgres open the connections, own the migrations and pick the dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// Dialect is what differs between the SQL databases.
type Dialect interface {
	// Name is "sqlite" or "postgres".
	Name() string
	// Placeholders reports whether queries need $1, $2… instead of ?.
	Placeholders() bool
	// LockClause is appended to a SELECT that must lock its rows inside a
	// write transaction ("" where writes are serialised anyway).
	LockClause() string
	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation(err error) bool
	// IsUnavailable reports whether err means the database cannot be
	// reached (as opposed to a bad query).
	IsUnavailable(err error) bool
	// ReadIsolation is the isolation level of Read transactions: one that
	// gives the whole transaction a single snapshot.
	ReadIsolation() sql.IsolationLevel
	// IsRetryable reports whether err aborted a transaction that may
	// succeed if run again (deadlock, serialization failure).
	IsRetryable(err error) bool
	// PrepareStatements reports whether the store should prepare the
	// statements of the verification miss path itself (SQLite); false
	// when the driver caches prepared statements on its own (pgx).
	PrepareStatements() bool
	// PlanWith returns args for a query whose best plan depends on its
	// arguments' values (the list filters, searches, usage ranges): where
	// the driver would reuse a generic plan, made without the values, it
	// has the query planned with them at every execution.
	PlanWith(args []any) []any
	// Publish sends an invalidation to the other nodes sharing the
	// database, inside tx so that it goes out exactly when tx commits
	// (nothing to do for a database only this process uses).
	Publish(ctx context.Context, tx *sql.Tx, inv keyward.Invalidation) error
}

// maxWriteAttempts bounds the retries of a transaction the database
// aborted as retryable.
const maxWriteAttempts = 4

// Store is keyward.Store on two database/sql handles: one for writes, one
// for reads (the same handle where the database needs no split).
type Store struct {
	write   *sql.DB
	read    *sql.DB
	dialect Dialect
	// usageWrite and usageRead hold the usage buckets when they live in a
	// database of their own (SQLite's usage file); nil: write and read.
	usageWrite, usageRead *sql.DB
	// writeMu serialises write transactions in-process, so a waiting
	// writer honours its context instead of blocking inside the driver.
	writeMu chan struct{}
	rebind  sync.Map // query -> rebound query
	// stmts holds the prepared hot queries on the read handle (read-only
	// after New): database/sql prepares each once on each connection
	// that runs it and keeps it there.
	stmts map[string]*sql.Stmt

	subMu         sync.RWMutex
	subscribers   []func(keyward.Invalidation)
	feedHealthy   func() bool
	feedConfirmed func() time.Time

	// opTimeout bounds every Read, Write and Ping on the client side: a
	// database that stops answering (a network partition) must not hang
	// requests; hitting it is "unavailable".
	opTimeout time.Duration
}

// SetOperationTimeout bounds every operation (0: only the caller's context).
func (s *Store) SetOperationTimeout(d time.Duration) { s.opTimeout = d }

// bound applies the operation timeout to a ctx that has no deadline of its
// own (background work). A request's context carries its one time budget
// (keyward.WithBudget) for all its waits together, which a per-operation
// bound must not stretch.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || s.opTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opTimeout)
}

// outcome turns an operation's error into what callers handle: the
// caller's context ending as keyward.ContextError says (unavailable when
// the server's budget ran out, timeout when the client's deadline did);
// the operation timeout as unavailable; anything else classified.
func (s *Store) outcome(caller, op context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case caller.Err() != nil:
		return keyward.ContextError(caller)
	case op.Err() != nil:
		var ke *keyward.Error
		if errors.As(err, &ke) && ke.Code != keyward.ECodeInternal && ke.Code != keyward.ECodeTimeout {
			return err
		}
		return &keyward.Error{Code: keyward.ECodeUnavailable, Message: "the database did not answer in time", Err: err}
	}
	return s.classify(err)
}

var _ keyward.Store = (*Store)(nil)

// New returns a Store. write and read may be the same handle. serialize
// makes Write admit one transaction at a time (for SQLite, which has a
// single writer anyway).
func New(write, read *sql.DB, d Dialect, serialize bool) *Store {
	s := &Store{write: write, read: read, dialect: d}
	if serialize {
		s.writeMu = make(chan struct{}, 1)
	}
	s.prepareHot(context.Background())
	return s
}

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// WriteDB returns the write handle, for dialect packages (backups, migrations).
func (s *Store) WriteDB() *sql.DB { return s.write }

// ReadDB returns the handle of read transactions (the same as WriteDB on
// PostgreSQL), for tests that inspect the connections' settings.
func (s *Store) ReadDB() *sql.DB { return s.read }

// Close closes both handles.
func (s *Store) Close() error {
	var err error
	for _, st := range s.stmts {
		err = errors.Join(err, st.Close())
	}
	err = errors.Join(err, s.write.Close())
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	if s.usageWrite != nil && s.usageWrite != s.write {
		err = errors.Join(err, s.usageWrite.Close())
	}
	if s.usageRead != nil && s.usageRead != s.usageWrite && s.usageRead != s.read {
		err = errors.Join(err, s.usageRead.Close())
	}
	return err
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	op, cancel := s.bound(ctx)
	defer cancel()
	var one int
	return s.outcome(ctx, op, s.read.QueryRowContext(op, "SELECT 1").Scan(&one))
}

// Read runs fn in a read-only transaction.
func (s *Store) Read(ctx context.Context, fn func(keyward.Tx) error) error {
	op, cancel := s.bound(ctx)
	defer cancel()
	return s.outcome(ctx, op, s.readOnce(op, fn))
}

func (s *Store) readOnce(ctx context.Context, fn func(keyward.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: s.dialect.ReadIsolation()})
	if err != nil {
		return s.classify(err)
	}
	defer tx.Rollback()
	if err := fn(&Tx{s: s, tx: tx}); err != nil {
		return err
	}
	return s.classify(tx.Commit())
}

// Write runs fn in a write transaction, committing only if fn returns nil.
// A transaction the database aborts as retryable (a deadlock between
// nodes) runs again, so fn must not keep state across calls. The
// invalidations the transaction recorded are delivered to this node's
// subscribers after the commit, before Write returns.
//
// Waiting for the writer (SQLite's one connection) honours ctx, and the
// writer is released before the invalidations are delivered: subscribers
// take locks of their own (the verification cache, credit leases), and a
// goroutine holding one of those must never be able to wait for the
// writer that waits for it.
func (s *Store) Write(ctx context.Context, fn func(keyward.Tx) error) error {
	op, cancel := s.bound(ctx)
	defer cancel()
	invs, after, err := s.write1(ctx, op, fn)
	if err != nil {
		return err
	}
	s.Deliver(invs)
	return s.outcome(ctx, op, s.runAfter(op, after))
}

// write1 runs fn holding the writer, retrying what the database aborted
// as retryable.
func (s *Store) write1(ctx, op context.Context, fn func(keyward.Tx) error) ([]keyward.Invalidation, []afterWork, error) {
	if s.writeMu != nil {
		select {
		case s.writeMu <- struct{}{}:
			defer func() { <-s.writeMu }()
		case <-op.Done():
			return nil, nil, s.outcome(ctx, op, op.Err())
		}
	}
	for attempt := 1; ; attempt++ {
		invs, after, err := s.writeOnce(op, fn)
		err = s.outcome(ctx, op, err)
		if err != nil && attempt < maxWriteAttempts && s.dialect.IsRetryable(err) {
			continue
		}
		return invs, after, err
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(keyward.Tx) error) ([]keyward.Invalidation, []afterWork, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, s.classify(err)
	}
	defer tx.Rollback()
	t := &Tx{s: s, tx: tx, writable: true}
	if err := fn(t); err != nil {
		return nil, nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, s.classify(err)
	}
	return t.invs, t.after, nil
}

// Subscribe implements keyward.Store.
func (s *Store) Subscribe(fn func(keyward.Invalidation)) {
	s.subMu.Lock()
	s.subscribers = append(s.subscribers, fn)
	s.subMu.Unlock()
}

// Deliver hands invalidations to the subscribers: those this process
// committed, and (from the dialect's listener) those of other nodes.
func (s *Store) Deliver(invs []keyward.Invalidation) {
	if len(invs) == 0 {
		return
	}
	s.subMu.RLock()
	subs := s.subscribers
	s.subMu.RUnlock()
	for _, fn := range subs {
		for _, inv := range invs {
			fn(inv)
		}
	}
}

// SetFeedHealth installs the functions FeedHealthy and FeedConfirmedAt
// report; a store whose database only this process uses is always healthy.
func (s *Store) SetFeedHealth(healthy func() bool, confirmedAt func() time.Time) {
	s.feedHealthy, s.feedConfirmed = healthy, confirmedAt
}

// FeedHealthy implements keyward.Store.
func (s *Store) FeedHealthy() bool { return s.feedHealthy == nil || s.feedHealthy() }

// FeedConfirmedAt implements keyward.Store.
func (s *Store) FeedConfirmedAt() time.Time {
	if s.feedConfirmed == nil {
		return time.Now()
	}
	return s.feedConfirmed()
}

// classify turns driver errors into keyward errors: unavailable when the
// database cannot be reached (a connect timeout included), internal
// otherwise; context errors and keyward errors pass through. Whether a
// context error was the caller's is decided by outcome.
func (s *Store) classify(err error) error {
	if err == nil {
		return nil
	}
	var ke *keyward.Error
	if errors.As(err, &ke) {
		return err
	}
	if s.dialect.IsUnavailable(err) {
		return &keyward.Error{Code: keyward.ECodeUnavailable, Message: "the database is unavailable", Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return keyward.Internal(err)
}

// q returns query in the dialect's placeholder style.
// hotQueries are the statements of the verification cache miss path,
// prepared once on the read handle when the store opens (see
// Tx.hotQuery). Only read transactions use them.
var hotQueries = []string{qKeyBySecret, qResources, qRoles, qUser, qServiceAccount}

const (
	// qKeyBySecret reads no usage (NULL, 0): verification needs none, and
	// where usage lives apart, reading it would be a second file's pages.
	qKeyBySecret    = `SELECT ` + keyColumns + `, NULL, 0, s.valid_until FROM key_secrets s JOIN keys k ON k.id = s.key_id WHERE s.hash = ?`
	qResources      = `SELECT ` + resourceColumns + ` FROM catalog_resources WHERE account_id = ? ORDER BY grp, id`
	qRoles          = `SELECT ` + roleColumns + ` FROM roles WHERE account_id = ? ORDER BY name`
	qUser           = `SELECT ` + userColumns + ` FROM users WHERE id = ? AND account_id = ?`
	qServiceAccount = `SELECT ` + serviceAccountColumns + ` FROM service_accounts WHERE id = ? AND account_id = ?`
)

// prepareHot prepares the hot queries on the read handle, for dialects
// whose driver would otherwise parse every query (SQLite). It runs when
// the store opens, holding no connection, so preparing cannot wait on a
// transaction of its own; a statement that fails to prepare is run
// unprepared.
func (s *Store) prepareHot(ctx context.Context) {
	if !s.dialect.PrepareStatements() {
		return
	}
	s.stmts = map[string]*sql.Stmt{}
	for _, q := range hotQueries {
		if st, err := s.read.PrepareContext(ctx, s.q(q)); err == nil {
			s.stmts[q] = st
		}
	}
}

func (s *Store) q(query string) string {
	if !s.dialect.Placeholders() {
		return query
	}
	if v, ok := s.rebind.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	out := b.String()
	s.rebind.Store(query, out)
	return out
}

// Tx is a transaction of a Store.
type Tx struct {
	s        *Store
	tx       *sql.Tx
	writable bool
	invs     []keyward.Invalidation
	after    []afterWork // on the usage database, once committed
}

// Invalidate records that the transaction's changes make cached
// verifications stale: delivered to this node's subscribers when it
// commits (and published to the other nodes inside it), dropped if it
// rolls back. The Tx methods that change what verification reads call it
// themselves (see invalidations.go); it is exported for tests.
func (t *Tx) Invalidate(ctx context.Context, inv keyward.Invalidation) error {
	if !t.writable {
		return keyward.Internal(errors.New("invalidation inside a read transaction"))
	}
	for _, have := range t.invs {
		if have == inv {
			return nil
		}
	}
	t.invs = append(t.invs, inv)
	if err := t.s.dialect.Publish(ctx, t.tx, inv); err != nil {
		return t.s.classify(err)
	}
	return nil
}

var _ keyward.Tx = (*Tx)(nil)

func (t *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if !t.writable {
		return nil, keyward.Internal(errors.New("write inside a read transaction"))
	}
	r, err := t.tx.ExecContext(ctx, t.s.q(query), args...)
	if err != nil {
		return nil, t.s.classify(err)
	}
	return r, nil
}

func (t *Tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := t.tx.QueryContext(ctx, t.s.q(query), args...)
	if err != nil {
		return nil, t.s.classify(err)
	}
	return rows, nil
}

func (t *Tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.s.q(query), args...)
}

// hotQuery is query for the hot queries (hotQueries): in a read
// transaction, through their prepared statements, so a verification cache
// miss does not parse SQL.
func (t *Tx) hotQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st := t.s.stmts[query]
	if st == nil || t.writable {
		return t.query(ctx, query, args...)
	}
	rows, err := t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	if err != nil {
		return nil, t.s.classify(err)
	}
	return rows, nil
}

// hotQueryRow is queryRow for the hot queries.
func (t *Tx) hotQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st := t.s.stmts[query]
	if st == nil || t.writable {
		return t.queryRow(ctx, query, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

// lock returns the row-lock clause inside write transactions.
func (t *Tx) lock() string {
	if t.writable {
		return t.s.dialect.LockClause()
	}
	return ""
}

// mustAffect turns "no row changed" into err.
func mustAffect(r sql.Result, err error, notFound error) error {
	if err != nil {
		return err
	}
	n, err := r.RowsAffected()
	if err != nil {
		return keyward.Internal(err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}

// conflictErr is returned when a row's version moved under an update.
func conflictErr(kind, id string) error {
	return keyward.Errorf(keyward.ECodeConflict, "%s %s was changed by another request; retry", kind, id)
}

// page adds the keyset pagination clauses for a list ordered by id, newest
// first, and returns the ORDER BY/LIMIT tail; reverse says the rows come
// back oldest first and must be reversed.
func page(p keyward.Page, where *[]string, args *[]any, col string) (tail string, limit int, reverse bool) {
	limit = p.Limit
	if limit <= 0 {
		limit = keyward.DefaultPageLimit
	}
	switch {
	case p.EndingBefore != "":
		*where = append(*where, col+" > ?")
		*args = append(*args, p.EndingBefore)
		return fmt.Sprintf(" ORDER BY %s ASC LIMIT %d", col, limit+1), limit, true
	case p.StartingAfter != "":
		*where = append(*where, col+" < ?")
		*args = append(*args, p.StartingAfter)
	}
	return fmt.Sprintf(" ORDER BY %s DESC LIMIT %d", col, limit+1), limit, false
}

// trim cuts a page fetched with one extra row and restores newest-first order.
func trim[T any](items []T, limit int, reverse bool) ([]T, bool) {
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	if reverse {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	return items, more
}

func whereSQL(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// likePattern returns a LIKE pattern matching s anywhere, escaping % _ and \.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// conds are the conditions of a query's WHERE and their arguments.
type conds struct {
	where []string
	args  []any
}

// add adds a condition with its argument.
func (c *conds) add(cond string, v any) {
	c.where = append(c.where, cond)
	c.args = append(c.args, v)
}

// addText adds a condition on a text when the text is not empty (an
// empty filter does not filter).
func (c *conds) addText(cond, v string) {
	if v != "" {
		c.add(cond, v)
	}
}

// addTime adds a condition on a time when there is one.
func (c *conds) addTime(cond string, v *time.Time) {
	if v != nil {
		c.add(cond, ms(*v))
	}
}

// taken turns a unique-constraint failure into a 409 duplicate error with
// the message; any other err is returned as it is.
func (t *Tx) taken(err error, format string, a ...any) error {
	if err != nil && t.s.dialect.IsUniqueViolation(err) {
		return keyward.Errorf(keyward.ECodeDuplicate, format, a...)
	}
	return err
}

// scanOne reads the one row of a query with scan: not_found naming noun
// and id when there is none.
func scanOne[T any](t *Tx, row *sql.Row, scan func(scanner) (*T, error), noun, id string) (*T, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.NotFound(noun, id)
	}
	if err != nil {
		return nil, t.s.classify(err)
	}
	return v, nil
}

// scanAll reads every row with scan, and closes rows.
func scanAll[T any](t *Tx, rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, t.s.classify(err)
		}
		out = append(out, v)
	}
	return out, t.s.classify(rows.Err())
}

// listPage returns one page of a list, newest first: the rows of selectFrom
// ("SELECT … FROM table") that meet c, ordered by col, and whether more
// follow.
func listPage[T any](ctx context.Context, t *Tx, selectFrom string, c *conds, p keyward.Page, col string, scan func(scanner) (T, error)) ([]T, bool, error) {
	tail, limit, reverse := page(p, &c.where, &c.args, col)
	rows, err := t.query(ctx, selectFrom+whereSQL(c.where)+tail, t.s.dialect.PlanWith(c.args)...)
	if err != nil {
		return nil, false, err
	}
	out, err := scanAll(t, rows, scan)
	if err != nil {
		return nil, false, err
	}
	items, more := trim(out, limit, reverse)
	return items, more, nil
}
