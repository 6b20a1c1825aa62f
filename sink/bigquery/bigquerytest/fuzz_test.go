package bigquerytest

import (
	"testing"
	"time"
)

// FuzzTranslate: the lexer and translator take any text without
// panicking, also inside a larger buffer with trailing bytes, and give
// either SQL or an API error.
func FuzzTranslate(f *testing.F) {
	for _, q := range []string{
		"SELECT COUNT(*) FROM `p.d.t` WHERE x >= @a",
		"SELECT * EXCEPT (r) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY a ORDER BY b DESC) AS r FROM d.t) WHERE r = 1",
		"SELECT TIMESTAMP_TRUNC(ts, DAY), CAST(x AS INT64), SAFE_CAST(y AS NUMERIC) FROM t, UNNEST(arr) AS e",
		`SELECT 'a\x41\u0042', r"\n", b'\xff', """x""", 1.5e3, 0x1F, [1, 2][SAFE_OFFSET(0)]`,
		"DELETE FROM d.t WHERE DATE(ts) = '2026-01-01'",
		"INSERT d.t (a) VALUES (1)",
		"WITH a AS (SELECT 1) SELECT * FROM a # c\n-- c\n/* c */",
	} {
		f.Add(q)
	}
	s := &Server{cfg: &config{now: time.Now}, datasets: map[string]*dataset{}}
	f.Fuzz(func(t *testing.T, q string) {
		for _, src := range []string{q, q + "\x00)`'\"trailing"} {
			tr := &translator{s: s, query: src, project: "p", dataset: "p:d", now: time.Unix(0, 0), tables: map[tableRef]*scanTable{},
				params: map[string]string{"A": "1"}, posArgs: []string{"2"}}
			out, err := tr.statement(src)
			if err == nil && out == "" {
				t.Fatalf("no SQL and no error for %q", src)
			}
			toks, lerr := lex(src)
			if lerr == nil && len(toks) > 0 && (toks[0].is("DELETE") || toks[0].is("INSERT") || toks[0].is("UPDATE")) {
				_, _, _ = tr.dml(toks, upper(toks[0]))
			}
		}
	})
}
