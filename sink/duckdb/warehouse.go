// Package duckdb is hem's local warehouse: the same tables BigQuery gets
// (STRUCT for records, LIST for repeated fields, TIMESTAMPTZ, JSON), in a
// DuckDB file, with one row per _event_id.
//
// Writes stage a batch with DuckDB's Appender into a temporary table and
// move it into the table with INSERT OR IGNORE in one transaction: the
// commit is the durable point, and a redelivered event (same id) is
// skipped. An event under a stored id with a different payload is not: it
// fails with sink.DuplicateID and the stored one stays (duplicate.go).
//
// A commit that fails (a full disk, say) leaves DuckDB 1.4's primary-key
// index holding ids of the rows it took back: writing them again fails
// with "Duplicate key", and after one more write to the table that state
// outlives a checkpoint and a restart. A checkpoint right after the failure
// clears it. So after any failed write the Warehouse checkpoints, with no
// other write in flight, before it writes again; until that succeeds,
// writes fail and the processor retries them. A table left that way by an
// earlier hem (INSERT OR IGNORE refuses a duplicate id) is rebuilt: its
// rows are copied, one per id, into a new table with a new index.
//
// Schema evolution adds columns with ALTER TABLE ADD COLUMN and widens
// records with ALTER COLUMN ... TYPE (new fields read NULL in old
// rows). A table whose contract has an entity key gets a <table>_latest
// view, the latest row of each key (createLatestView), made again at each
// migration. DuckDB allows one writing process per file: "hem dev" owns it and
// serves queries over HTTP (QueryHandler).
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
)

// Option configures a Warehouse.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	memoryLimit         string
	threads             int
	checkpointThreshold string
	readOnly            bool
	sandbox             []string // readable directories; nil means no sandbox
	funcs               []scalarFunc
}

// WithMemoryLimit caps DuckDB's memory (default "2GB"; DuckDB's own default
// is 80% of RAM).
func WithMemoryLimit(limit string) Option {
	return optionFunc(func(c *config) { c.memoryLimit = limit })
}

// WithScalarFunc registers a scalar function under name for the
// database's queries (e.g. hem sql's hem_decrypt).
func WithScalarFunc(name string, f duckdbdriver.ScalarFunc) Option {
	return optionFunc(func(c *config) { c.funcs = append(c.funcs, scalarFunc{name, f}) })
}

type scalarFunc struct {
	name string
	f    duckdbdriver.ScalarFunc
}

// WithThreads sets DuckDB's worker threads (default: DuckDB's, the cores).
func WithThreads(n int) Option { return optionFunc(func(c *config) { c.threads = n }) }

// WithCheckpointThreshold sets how large the write-ahead log grows before
// DuckDB checkpoints it into the file (DuckDB's default is "16MB"). A
// checkpoint costs time in proportion to the table's index as well as to
// the new rows, so under sustained load a larger threshold checkpoints less
// often for the same durability (commits are in the log either way); the
// price is a longer log replay when the file is opened after a crash.
func WithCheckpointThreshold(size string) Option {
	return optionFunc(func(c *config) { c.checkpointThreshold = size })
}

// ReadOnly opens the file for queries only; another process may have it
// open read-only too, but none for writing.
func ReadOnly() Option { return optionFunc(func(c *config) { c.readOnly = true }) }

// Warehouse is a DuckDB database holding hem's tables. It is safe for
// concurrent use.
type Warehouse struct {
	db *sql.DB

	// writing is held shared by every write (rows and DDL) and alone by
	// heal, so a checkpoint after a failed write runs with none in flight.
	writing sync.RWMutex
	// broken is set when a write failed in a way that may have left an
	// index wrong; heal clears it.
	broken atomic.Bool

	ddl     sync.Mutex        // one schema change at a time
	mu      sync.Mutex        // guards applied and columns
	applied map[string]string // table → fingerprint of the newest schema applied
	columns map[string][]string
}

var _ sink.Sink = (*Warehouse)(nil)

// Open opens (creating if needed) the DuckDB file at path; "" is an
// in-memory database.
func Open(ctx context.Context, path string, opts ...Option) (*Warehouse, error) {
	cfg := config{memoryLimit: "2GB"}
	for _, o := range opts {
		o.apply(&cfg)
	}
	q := url.Values{}
	q.Set("memory_limit", cfg.memoryLimit)
	if cfg.threads > 0 {
		q.Set("threads", fmt.Sprint(cfg.threads))
	}
	if cfg.checkpointThreshold != "" {
		q.Set("checkpoint_threshold", cfg.checkpointThreshold)
	}
	if cfg.readOnly {
		q.Set("access_mode", "READ_ONLY")
	}
	db, err := sql.Open("duckdb", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("duckdb: open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("duckdb: %s is in use by another process (a running hem dev?): %w", path, err)
		}
		return nil, fmt.Errorf("duckdb: open %s: %w", path, err)
	}
	if err := registerFuncs(ctx, db, cfg.funcs); err != nil {
		db.Close()
		return nil, err
	}
	if cfg.sandbox != nil {
		if err := lockDown(ctx, db, cfg.sandbox); err != nil {
			db.Close()
			return nil, err
		}
	}
	return &Warehouse{db: db, applied: map[string]string{}, columns: map[string][]string{}}, nil
}

// registerFuncs registers funcs in the database's catalog, which every
// connection of the pool shares.
func registerFuncs(ctx context.Context, db *sql.DB, funcs []scalarFunc) error {
	if len(funcs) == 0 {
		return nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("duckdb: register functions: %w", err)
	}
	defer conn.Close()
	for _, f := range funcs {
		if err := duckdbdriver.RegisterScalarUDF(conn, f.name, f.f); err != nil {
			return fmt.Errorf("duckdb: register %s: %w", f.name, err)
		}
	}
	return nil
}

// DB is the database, for queries.
func (w *Warehouse) DB() *sql.DB { return w.db }

// Close implements sink.Sink.
func (w *Warehouse) Close(context.Context) error { return w.db.Close() }

// Migrate is the registry's migrator (registry.Migrator): it creates the table of s or adds what
// s adds to it. It is idempotent and cheap when nothing changed.
func (w *Warehouse) Migrate(ctx context.Context, s *contract.Schema) error {
	_, err := w.ensure(ctx, s, "")
	return err
}

// mapTable is the table of s, under name if it is not "".
func mapTable(s *contract.Schema, name string) (*contract.Table, error) {
	t, err := contract.MapTable(s.Descriptor())
	if err != nil {
		return nil, sink.Permanent(fmt.Errorf("duckdb: %s has no table mapping: %w", s.Subject, err))
	}
	if name != "" {
		t.Name = name
	}
	return t, nil
}

// ensure brings the table of s (named name, or the contract's table when
// name is "") up to s and returns its column names in table order.
func (w *Warehouse) ensure(ctx context.Context, s *contract.Schema, name string) ([]string, error) {
	t, err := mapTable(s, name)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	if w.applied[t.Name] == s.Fingerprint() {
		cols := w.columns[t.Name]
		w.mu.Unlock()
		return cols, nil
	}
	w.mu.Unlock()

	w.ddl.Lock()
	defer w.ddl.Unlock()
	live, err := w.liveColumns(ctx, t.Name)
	if err != nil {
		return nil, err
	}
	var stmts []string
	if len(live) == 0 {
		stmts = append(stmts, createTable(t))
	} else {
		for _, c := range t.Columns {
			typ := columnType(c)
			have, ok := live[strings.ToLower(c.Name)]
			switch {
			case !ok:
				stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", ident(t.Name), ident(c.Name), typ))
			case normalizeType(have) != normalizeType(typ) && c.Type == contract.Record:
				// A record gained fields: widen it; old rows read NULL there.
				stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE %s", ident(t.Name), ident(c.Name), typ))
			}
		}
	}
	if t.EntityKey != "" {
		// Replaced at every migration: DuckDB binds a view's columns when
		// it is created, and refuses it once its table gained a column.
		stmts = append(stmts, createLatestView(t))
	}
	// COMMENT ON COLUMN makes DuckDB copy and rebind the whole table, so
	// describing every column of a wide table costs width² (minutes for
	// thousands of columns); a wide table's descriptions are only rows of
	// _column_descriptions, which holds every table's.
	commented := len(t.Columns) <= maxCommentedColumns
	var described []string
	for _, c := range t.Columns {
		if c.Description == "" {
			continue
		}
		described = append(described, fmt.Sprintf("(%s, %s, %s)", literal(t.Name), literal(c.Name), literal(c.Description)))
		if commented && (len(live) == 0 || live[strings.ToLower(c.Name)] == "") {
			stmts = append(stmts, fmt.Sprintf("COMMENT ON COLUMN %s.%s IS %s", ident(t.Name), ident(c.Name), literal(c.Description)))
		}
	}
	if len(live) == 0 && t.Description != "" {
		stmts = append(stmts, fmt.Sprintf("COMMENT ON TABLE %s IS %s", ident(t.Name), literal(t.Description)))
	}
	if len(described) > 0 {
		stmts = append(stmts, createDescriptions)
		for chunk := range slices.Chunk(described, 1000) {
			stmts = append(stmts, "INSERT OR REPLACE INTO "+ident(descriptionsTable)+" VALUES "+strings.Join(chunk, ", "))
		}
	}
	// One transaction: a migration applies whole or not at all.
	if err := w.write(ctx, func() error {
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("duckdb: migrate %s: %w", t.Name, err)
		}
		defer func() { _ = tx.Rollback() }() // a no-op after Commit
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				if len(q) > 200 {
					q = q[:200] + "…"
				}
				return fmt.Errorf("duckdb: migrate %s: %s: %w", t.Name, q, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("duckdb: migrate %s: commit: %w", t.Name, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	cols, err := w.columnOrder(ctx, t.Name)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.applied[t.Name], w.columns[t.Name] = s.Fingerprint(), cols
	w.mu.Unlock()
	return cols, nil
}

func (w *Warehouse) liveColumns(ctx context.Context, table string) (map[string]string, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main'`, table)
	if err != nil {
		return nil, fmt.Errorf("duckdb: read columns of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		out[strings.ToLower(name)] = typ
	}
	return out, rows.Err()
}

func (w *Warehouse) columnOrder(ctx context.Context, table string) ([]string, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, fmt.Errorf("duckdb: read columns of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// maxCommentedColumns is the widest table whose columns get DuckDB
// comments as well as rows in _column_descriptions.
const maxCommentedColumns = 250

// descriptionsTable holds the description of every column of every table
// (DuckDB comments are on narrow tables only).
const descriptionsTable = "_column_descriptions"

var createDescriptions = "CREATE TABLE IF NOT EXISTS " + ident(descriptionsTable) +
	" (table_name VARCHAR, column_name VARCHAR, description VARCHAR, PRIMARY KEY (table_name, column_name))"

// LatestView names the view of a table with an entity key that holds the
// latest row of each entity.
func LatestView(table string) string { return table + "_latest" }

// createLatestView creates <table>_latest: of the rows of each entity key,
// the one with the latest _event_time, then the latest _received_at, then
// the greatest _event_id (so the choice is stable). A corrected re-export
// of an entity lands as a newer row, which the view shows instead of the
// old. Rows without a key are left out: they belong to no entity.
func createLatestView(t *contract.Table) string {
	return fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT * FROM %s WHERE %s IS NOT NULL\n"+
		"QUALIFY row_number() OVER (PARTITION BY %s ORDER BY %s DESC, %s DESC NULLS LAST, %s DESC) = 1",
		ident(LatestView(t.Name)), ident(t.Name), ident(t.EntityKey), ident(t.EntityKey),
		ident(contract.ColEventTime), ident(contract.ColReceivedAt), ident(contract.ColEventID))
}

func createTable(t *contract.Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", ident(t.Name))
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", ident(c.Name), columnType(c))
		if c.Name == contract.ColEventID {
			b.WriteString(" PRIMARY KEY")
		}
	}
	b.WriteString(")")
	return b.String()
}

// columnType is the DuckDB type of a mapped column.
func columnType(c contract.Column) string {
	t := scalarType(c)
	if c.Mode == contract.Repeated {
		return t + "[]"
	}
	return t
}

func scalarType(c contract.Column) string {
	switch c.Type {
	case contract.Bool:
		return "BOOLEAN"
	case contract.Int64:
		return "BIGINT"
	case contract.Numeric:
		return "DECIMAL(38,0)"
	case contract.Float64:
		return "DOUBLE"
	case contract.String:
		return "VARCHAR"
	case contract.Bytes:
		return "BLOB"
	case contract.Timestamp:
		return "TIMESTAMP WITH TIME ZONE"
	case contract.Date:
		return "DATE"
	case contract.Interval:
		return "INTERVAL"
	case contract.JSON:
		return "JSON"
	case contract.Record:
		parts := make([]string, len(c.Fields))
		for i, f := range c.Fields {
			parts[i] = ident(f.Name) + " " + columnType(f)
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	}
	return "VARCHAR"
}

// normalizeType makes DuckDB's spelling of a type comparable with ours.
func normalizeType(t string) string {
	return strings.NewReplacer(`"`, "", " ", "", "TIMESTAMPTZ", "TIMESTAMPWITHTIMEZONE").Replace(strings.ToUpper(t))
}

func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Write implements sink.Sink: the batch is durable when it returns nil.
func (w *Warehouse) Write(ctx context.Context, b *sink.Batch) error {
	if len(b.Events) == 0 {
		return nil
	}
	return w.writeTable(ctx, "", b.Newest(), b)
}

// WriteTable writes b into table, shaped as Write shapes the table of
// shape but named otherwise (hem restore's tables): it creates the table
// or adds what shape adds to it, and keeps one row per event id. Rows of
// older versions than shape read NULL in its newer columns; shape must be
// the batch's newest version or a newer one.
func (w *Warehouse) WriteTable(ctx context.Context, table string, shape *contract.Schema, b *sink.Batch) error {
	if table == "" || shape == nil {
		return errors.New("duckdb: WriteTable needs a table name and a shape")
	}
	if len(b.Events) == 0 {
		_, err := w.ensure(ctx, shape, table)
		return err
	}
	return w.writeTable(ctx, table, shape, b)
}

func (w *Warehouse) writeTable(ctx context.Context, table string, newest *contract.Schema, b *sink.Batch) error {
	cols, err := w.ensure(ctx, newest, table)
	if err != nil {
		return err
	}
	t, err := mapTable(newest, table)
	if err != nil {
		return err
	}
	failures := sink.IsFailedEvents(b.Subject)
	var load []int
	var failed map[int]error
	if failures {
		load = firstOfEachFailure(b.Events)
	} else {
		load, failed = sink.FirstOfEachID(b.Events)
	}
	events := make([]*sink.Event, len(load))
	for k, i := range load {
		events[k] = b.Events[i]
	}
	rows, unconverted := buildRows(t, cols, events)
	for k, err := range unconverted {
		if failed == nil {
			failed = map[int]error{}
		}
		failed[load[k]] = err
	}
	if len(rows) > 0 && failures {
		err := w.loadFailures(ctx, t.Name, rows)
		if errors.As(err, new(indexError)) {
			if err := w.rebuild(ctx, t); err != nil {
				return err
			}
			err = w.loadFailures(ctx, t.Name, rows)
		}
		if err != nil {
			return err
		}
	}
	if len(rows) > 0 && !failures {
		differ, err := w.load(ctx, t, cols, rows)
		if errors.As(err, new(indexError)) {
			if err := w.rebuild(ctx, t); err != nil {
				return err
			}
			differ, err = w.load(ctx, t, cols, rows)
		}
		if err != nil {
			return err
		}
		if len(differ) > 0 {
			byID := make(map[string]int, len(events))
			for k, e := range events {
				byID[e.ID] = load[k]
			}
			if failed == nil {
				failed = map[int]error{}
			}
			for _, id := range differ {
				failed[byID[id]] = sink.DuplicateID(id)
			}
		}
	}
	if len(failed) > 0 {
		return &sink.BatchError{Failed: failed}
	}
	return nil
}

// load makes rows durable in table. The common case, no row already in
// the table, appends them straight into it in one transaction. If that
// fails because an id is already there (a redelivery), it takes the
// careful path: stage the rows and INSERT OR IGNORE them. Any other
// failure is returned, and the next write heals first. It returns the
// ids whose stored row differs from the one given (those stay as stored).
func (w *Warehouse) load(ctx context.Context, t *contract.Table, cols []string, rows [][]driver.Value) (differ []string, err error) {
	table := t.Name
	err = w.write(ctx, func() error {
		conn, err := w.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("duckdb: %w", err)
		}
		defer conn.Close()
		err = appendTx(ctx, conn, table, rows)
		var ce commitError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ce):
			return fmt.Errorf("duckdb: commit %s: %w", table, err)
		}
		differ, err = loadStaged(ctx, conn, t, cols, rows)
		if isConstraint(err) {
			return indexError{err}
		}
		return err
	})
	return differ, err
}

// indexError is INSERT OR IGNORE refusing a duplicate id: only an index
// that holds ids of rows it does not have does that (a warehouse written
// to by a hem before the checkpoint after failed writes).
type indexError struct{ err error }

func (e indexError) Error() string { return e.err.Error() }
func (e indexError) Unwrap() error { return e.err }

func isConstraint(err error) bool {
	var de *duckdbdriver.Error
	return errors.As(err, &de) && de.Type == duckdbdriver.ErrorTypeConstraint
}

// rebuild copies table t's rows, one per id, into a new table with a new
// primary-key index, in one transaction, and puts its descriptions back.
func (w *Warehouse) rebuild(ctx context.Context, t *contract.Table) error {
	w.ddl.Lock()
	defer w.ddl.Unlock()
	w.writing.Lock()
	defer w.writing.Unlock()
	live, err := w.liveColumns(ctx, t.Name)
	if err != nil {
		return err
	}
	name, tmp := ident(t.Name), ident(t.Name+"__rebuild")
	stmts := []string{
		fmt.Sprintf("CREATE TABLE %s AS SELECT DISTINCT ON (%s) * FROM %s", tmp, ident(contract.ColEventID), name),
		"DROP TABLE " + name,
		fmt.Sprintf("ALTER TABLE %s RENAME TO %s", tmp, name),
		fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (%s)", name, ident(contract.ColEventID)),
	}
	if t.Description != "" {
		stmts = append(stmts, fmt.Sprintf("COMMENT ON TABLE %s IS %s", name, literal(t.Description)))
	}
	if len(live) <= maxCommentedColumns {
		for _, c := range t.Columns {
			if c.Description != "" && live[strings.ToLower(c.Name)] != "" {
				stmts = append(stmts, fmt.Sprintf("COMMENT ON COLUMN %s.%s IS %s", name, ident(c.Name), literal(c.Description)))
			}
		}
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("duckdb: rebuild %s: %w", t.Name, err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			w.broken.Store(true)
			return fmt.Errorf("duckdb: rebuild %s: %s: %w", t.Name, q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		w.broken.Store(true)
		return fmt.Errorf("duckdb: rebuild %s: %w", t.Name, err)
	}
	w.broken.Store(false)
	return nil
}

// write runs f, which writes, once the database is fit for it: after a
// failed write, only a checkpoint with no write in flight makes it so.
func (w *Warehouse) write(ctx context.Context, f func() error) error {
	if w.broken.Load() {
		if err := w.heal(ctx); err != nil {
			return err
		}
	}
	w.writing.RLock()
	defer w.writing.RUnlock()
	err := f()
	if err != nil {
		w.broken.Store(true)
	}
	return err
}

// heal checkpoints after a failed write. DuckDB 1.4 takes back a failed
// commit's rows but not all their keys in the primary-key index; a
// checkpoint drops those keys, if it runs before another write to the
// table builds on them.
func (w *Warehouse) heal(ctx context.Context) error {
	w.writing.Lock()
	defer w.writing.Unlock()
	if !w.broken.Load() {
		return nil // healed while this one waited
	}
	if _, err := w.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("duckdb: checkpoint after a failed write (writes resume once it succeeds): %w", err)
	}
	w.broken.Store(false)
	return nil
}

// commitError is a failed commit, after which the index may be wrong.
// A failed append before it (such as a redelivered id) is only rolled
// back: DuckDB checks keys against the table's index as rows go in.
type commitError struct{ err error }

func (e commitError) Error() string { return e.err.Error() }
func (e commitError) Unwrap() error { return e.err }

// appendTx appends rows to table and commits, or rolls back. A failed
// commit is a commitError.
func appendTx(ctx context.Context, conn *sql.Conn, table string, rows [][]driver.Value) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := appendRows(conn, "", table, rows); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return commitError{err}
	}
	return nil
}

func appendRows(conn *sql.Conn, catalog, table string, rows [][]driver.Value) error {
	return conn.Raw(func(dc any) error {
		app, err := duckdbdriver.NewAppender(dc.(driver.Conn), catalog, "main", table)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := app.AppendRow(r...); err != nil {
				app.Close()
				return err
			}
		}
		return app.Close()
	})
}

// loadStaged appends rows to a staging table and moves them into the
// table with INSERT OR IGNORE in one transaction, skipping ids already
// there; it returns those whose stored row differs.
func loadStaged(ctx context.Context, conn *sql.Conn, t *contract.Table, cols []string, rows [][]driver.Value) ([]string, error) {
	table := t.Name
	stage := "hem_stage_" + strings.NewReplacer(`"`, "", ".", "_").Replace(table)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM %s LIMIT 0", ident(stage), ident(table))); err != nil {
		return nil, fmt.Errorf("duckdb: stage %s: %w", table, err)
	}
	if err := appendRows(conn, "temp", stage, rows); err != nil {
		return nil, fmt.Errorf("duckdb: stage %s: %w", table, err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	differ, err := differing(ctx, tx, t, cols, table, stage)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT OR IGNORE INTO %s SELECT * FROM %s", ident(table), ident(stage))); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("duckdb: insert into %s: %w", table, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("duckdb: commit %s: %w", table, err)
	}
	_, _ = conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+ident(stage))
	return differ, nil
}

// DropTable drops table, its latest view and its column descriptions, if
// there (hem restore's tables, when they expire).
func (w *Warehouse) DropTable(ctx context.Context, table string) error {
	w.ddl.Lock()
	defer w.ddl.Unlock()
	stmts := []string{
		"DROP VIEW IF EXISTS " + ident(LatestView(table)),
		"DROP TABLE IF EXISTS " + ident(table),
	}
	live, err := w.liveColumns(ctx, descriptionsTable)
	if err != nil {
		return err
	}
	if len(live) > 0 {
		stmts = append(stmts, "DELETE FROM "+ident(descriptionsTable)+" WHERE table_name = "+literal(table))
	}
	err = w.write(ctx, func() error {
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("duckdb: drop %s: %w", table, err)
		}
		defer func() { _ = tx.Rollback() }() // a no-op after Commit
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("duckdb: drop %s: %w", table, err)
			}
		}
		return tx.Commit()
	})
	w.mu.Lock()
	delete(w.applied, table)
	delete(w.columns, table)
	w.mu.Unlock()
	return err
}
