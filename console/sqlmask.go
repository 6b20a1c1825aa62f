package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hemlabs/hem/contract"
)

// How the SQL page keeps PII from viewers without MaySeePII (DuckDB, hem
// dev): the query is parsed by DuckDB itself (json_serialize_sql), and
// every table it reads is replaced, in the parsed tree, by a subquery of
// that table with its PII columns masked (SELECT * REPLACE (mask AS col));
// the tree goes back to SQL (json_deserialize_sql) and runs. Whatever the
// query does — filters, joins, casts, struct packing — it only ever sees
// masked values. It may read hem's event tables only (contract tables,
// their _latest views, _failed_events), unqualified or in main; another
// schema or catalog, a WITH name that shadows a table, and any table
// function but range, generate_series and unnest are refused, since each
// could reach the data around the masks.

// errSQL is a query the page refuses; its text is shown as is (400).
type errSQL struct{ msg string }

func (e *errSQL) Error() string { return e.msg }

func refuse(format string, args ...any) error { return &errSQL{fmt.Sprintf(format, args...)} }

// allowedTableFunctions read no data.
var allowedTableFunctions = []string{"range", "generate_series", "unnest"}

// failedMasks are the columns of _failed_events that carry an event's
// content: the original bytes and the file record it came from.
var failedMasks = map[string]string{"original": maskText("event content"), "origin": maskText("event content")}

// maskPolicy is, per table (lowercase), its columns to mask (lowercase →
// mask text); a table with no PII has an empty map.
type maskPolicy map[string]map[string]string

// masker builds and caches what masking needs: the PII columns of every
// version of every contract (versions never change) and the tables the
// warehouse has (briefly: a new table appears with its first event).
type masker struct {
	mu       sync.Mutex
	versions map[string]versionMasks // subject#version
	tables   map[string][]string     // table → columns, as the warehouse has them
	tablesAt time.Time
}

type versionMasks struct {
	table string
	cols  map[string]string // column → mask
}

func newMasker() *masker {
	return &masker{versions: map[string]versionMasks{}}
}

// tableTTL is how long the warehouse's table list is reused.
const tableTTL = 10 * time.Second

// policy returns the masks of every table the warehouse has.
func (m *masker) policy(ctx context.Context, reg Registry, wh Warehouse, now time.Time) (maskPolicy, map[string][]string, error) {
	subjects, err := reg.Subjects(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("console: sql: subjects: %w", err)
	}
	pol := maskPolicy{"_failed_events": failedMasks}
	for _, si := range subjects {
		for v := 1; v <= int(si.GetLatestVersion()); v++ {
			table, cols, err := m.version(ctx, reg, si.GetSubject(), v)
			if err != nil {
				return nil, nil, err
			}
			for _, name := range []string{table, table + "_latest"} {
				if pol[name] == nil {
					pol[name] = map[string]string{}
				}
				for c, mask := range cols {
					pol[name][c] = mask
				}
			}
		}
	}
	tables, err := m.warehouseTables(ctx, wh, now)
	if err != nil {
		return nil, nil, err
	}
	return pol, tables, nil
}

// version reads (once) the table and PII columns of one version.
func (m *masker) version(ctx context.Context, reg Registry, subject string, v int) (string, map[string]string, error) {
	key := fmt.Sprintf("%s#%d", subject, v)
	m.mu.Lock()
	vm, ok := m.versions[key]
	m.mu.Unlock()
	if ok {
		return vm.table, vm.cols, nil
	}
	sc, err := reg.Version(ctx, subject, v)
	if err != nil {
		// Without the version the page cannot know its PII columns:
		// refuse rather than guess.
		return "", nil, fmt.Errorf("console: sql: %s v%d: %w", subject, v, err)
	}
	table := strings.ToLower(contract.TableName(sc.Descriptor()))
	t, err := contract.MapTable(sc.Descriptor())
	if err != nil {
		return table, map[string]string{}, nil //nolint:nilerr // no table mapping: no table to mask
	}
	cols := map[string]string{}
	for _, c := range t.Columns {
		if c.Field == nil {
			continue
		}
		if h := piiHandling(c.Field); h != "" {
			cols[strings.ToLower(c.Name)] = maskText(h)
		} else if (c.Field.Message() != nil || c.Field.IsMap()) && hasPIIBelow(c.Field, 0) {
			cols[strings.ToLower(c.Name)] = maskText("inside")
		}
	}
	m.mu.Lock()
	m.versions[key] = versionMasks{table, cols}
	m.mu.Unlock()
	return table, cols, nil
}

func (m *masker) warehouseTables(ctx context.Context, wh Warehouse, now time.Time) (map[string][]string, error) {
	m.mu.Lock()
	if m.tables != nil && now.Sub(m.tablesAt) < tableTTL {
		t := m.tables
		m.mu.Unlock()
		return t, nil
	}
	m.mu.Unlock()
	res, err := wh.Query(ctx, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_catalog = current_database() ORDER BY table_name, ordinal_position", 1_000_000)
	if err != nil {
		return nil, fmt.Errorf("console: sql: list the tables: %w", err)
	}
	tables := map[string][]string{}
	for _, row := range res.Rows {
		t, _ := row[0].(string)
		c, _ := row[1].(string)
		tables[strings.ToLower(t)] = append(tables[strings.ToLower(t)], c)
	}
	m.mu.Lock()
	m.tables, m.tablesAt = tables, now
	m.mu.Unlock()
	return tables, nil
}

// maskQuery rewrites q (DuckDB) so that it reads masked tables only; see
// the comment at the top of this file.
func maskQuery(ctx context.Context, wh Warehouse, q string, pol maskPolicy, tables map[string][]string) (string, error) {
	tree, err := parseSQL(ctx, wh, q)
	if err != nil {
		return "", err
	}
	stmts, _ := tree["statements"].([]any)
	if len(stmts) != 1 {
		return "", refuse("Only one SELECT statement runs here; this text has %d.", len(stmts))
	}
	ctes := map[string]bool{}
	collectCTEs(tree, ctes)
	for name := range ctes {
		if _, ok := tables[name]; ok {
			return "", refuse("The WITH name %q is also a table's; rename it.", name)
		}
	}
	subs := map[string]any{} // table → its masking subquery's tree
	if err := rewrite(ctx, wh, tree, pol, tables, ctes, subs); err != nil {
		return "", err
	}
	out, err := json.Marshal(tree)
	if err != nil {
		return "", fmt.Errorf("console: sql: %w", err)
	}
	res, err := wh.Query(ctx, "SELECT json_deserialize_sql(?::JSON)::VARCHAR", 1, string(out))
	if err != nil {
		return "", fmt.Errorf("console: sql: rebuild the query: %w", err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return "", errors.New("console: sql: rebuild the query: no answer")
	}
	sql, ok := res.Rows[0][0].(string)
	if !ok {
		return "", errors.New("console: sql: rebuild the query: not text")
	}
	return sql, nil
}

// parseSQL is DuckDB's parse tree of q; a query DuckDB cannot parse is
// refused with its parser's message.
func parseSQL(ctx context.Context, wh Warehouse, q string) (map[string]any, error) {
	res, err := wh.Query(ctx, "SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", 1, q)
	if err != nil {
		return nil, fmt.Errorf("console: sql: parse: %w", err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return nil, errors.New("console: sql: parse: no answer")
	}
	text, _ := res.Rows[0][0].(string)
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber() // positions are uint64: keep them exact
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("console: sql: parse: %w", err)
	}
	if failed, _ := tree["error"].(bool); failed {
		msg, _ := tree["error_message"].(string)
		if strings.Contains(msg, "Only SELECT") {
			return nil, refuse("Only a SELECT runs here (no EXPLAIN, PIVOT, SHOW or changes).")
		}
		return nil, refuse("%s", msg)
	}
	return tree, nil
}

func collectCTEs(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if cm, ok := x["cte_map"].(map[string]any); ok {
			entries, _ := cm["map"].([]any)
			for _, e := range entries {
				if em, ok := e.(map[string]any); ok {
					if k, ok := em["key"].(string); ok {
						into[strings.ToLower(k)] = true
					}
				}
			}
		}
		for _, c := range x {
			collectCTEs(c, into)
		}
	case []any:
		for _, c := range x {
			collectCTEs(c, into)
		}
	}
}

// isTableRef tells a FROM item (a table, join, subquery, function...) from
// query nodes (which have modifiers) and expressions (which have a class).
func isTableRef(m map[string]any) bool {
	_, sample := m["sample"]
	_, alias := m["alias"]
	_, modifiers := m["modifiers"]
	_, class := m["class"]
	return sample && alias && !modifiers && !class
}

func rewrite(ctx context.Context, wh Warehouse, v any, pol maskPolicy, tables map[string][]string, ctes map[string]bool, subs map[string]any) error {
	switch x := v.(type) {
	case []any:
		for _, c := range x {
			if err := rewrite(ctx, wh, c, pol, tables, ctes, subs); err != nil {
				return err
			}
		}
	case map[string]any:
		if isTableRef(x) {
			switch typ, _ := x["type"].(string); typ {
			case "BASE_TABLE":
				return maskTable(ctx, wh, x, pol, tables, ctes, subs)
			case "TABLE_FUNCTION":
				fn, _ := x["function"].(map[string]any)
				name, _ := fn["function_name"].(string)
				if !slices.Contains(allowedTableFunctions, strings.ToLower(name)) {
					return refuse("The table function %s() could read data around the PII masks; here only %s are allowed.", name, strings.Join(allowedTableFunctions, ", "))
				}
			case "SUBQUERY", "JOIN", "EMPTY", "EXPRESSION_LIST", "PIVOT", "SHOW_REF":
			default:
				return refuse("This query reads from a %s, which the console does not allow.", strings.ToLower(typ))
			}
		}
		for _, c := range x {
			if err := rewrite(ctx, wh, c, pol, tables, ctes, subs); err != nil {
				return err
			}
		}
	}
	return nil
}

// maskTable replaces the table reference ref, in place, with a subquery of
// the table that masks its PII columns.
func maskTable(ctx context.Context, wh Warehouse, ref map[string]any, pol maskPolicy, tables map[string][]string, ctes map[string]bool, subs map[string]any) error {
	name, _ := ref["table_name"].(string)
	schema, _ := ref["schema_name"].(string)
	catalog, _ := ref["catalog_name"].(string)
	table := strings.ToLower(name)
	if catalog != "" || (schema != "" && !strings.EqualFold(schema, "main")) {
		return refuse("The console reads hem's event tables only, unqualified: %s is not one.", strings.Join(slices.DeleteFunc([]string{catalog, schema, name}, func(s string) bool { return s == "" }), "."))
	}
	if schema == "" && ctes[table] {
		return nil // a WITH name (none shadows a table: checked before)
	}
	masks, ok := pol[table]
	cols, exists := tables[table]
	if !ok || !exists {
		return refuse("There is no event table %q: the Contracts page lists each contract's table.", name)
	}
	sub, ok := subs[table]
	if !ok {
		var repl []string
		for _, c := range cols {
			if mask, ok := masks[strings.ToLower(c)]; ok {
				id := quoteIdent(c)
				repl = append(repl, fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE %s END AS %s", id, quoteString(mask), id))
			}
		}
		sel := "SELECT * FROM main." + quoteIdent(name)
		if len(repl) > 0 {
			sel = "SELECT * REPLACE (" + strings.Join(repl, ", ") + ") FROM main." + quoteIdent(name)
		}
		tree, err := parseSQL(ctx, wh, sel)
		if err != nil {
			return fmt.Errorf("console: sql: masking query of %s: %w", name, err)
		}
		stmts, _ := tree["statements"].([]any)
		if len(stmts) != 1 {
			return fmt.Errorf("console: sql: masking query of %s: %d statements", name, len(stmts))
		}
		sub = stmts[0]
		subs[table] = sub
	}
	alias, _ := ref["alias"].(string)
	if alias == "" {
		alias = name
	}
	colAlias := ref["column_name_alias"]
	if colAlias == nil {
		colAlias = []any{}
	}
	clear(ref)
	ref["type"] = "SUBQUERY"
	ref["alias"] = alias
	ref["sample"] = nil
	ref["query_location"] = json.Number("18446744073709551615")
	ref["subquery"] = sub
	ref["column_name_alias"] = colAlias
	return nil
}

func quoteIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
