package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hemlabs/hem/fieldcrypt"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/sink/duckdb"
)

type sqlConfig struct {
	Dir       string
	Warehouse string
	Format    string
	// FieldKeys, when set, are the keys hem_decrypt uses instead of the
	// local ones.
	FieldKeys fieldKeyringFlags
}

func (c *sqlConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", "", "folder of the local stack (default .hem)")
	fs.StringVar(&c.Warehouse, "warehouse", "", "DuckDB file to open when no hem dev is running (default <dir>/warehouse.duckdb)")
	fs.StringVar(&c.Format, "format", "table", "output: table, csv (with a header row) or json")
	c.FieldKeys.bind(fs, false)
}

func sqlCommand() *Command {
	var cfg sqlConfig
	return &Command{
		Name:    "sql",
		Args:    "QUERY",
		Summary: "query the local DuckDB warehouse",
		Help: `Runs QUERY against the local warehouse: one table per event type
(shop_orders_v1_order_placed, ...) and _failed_events. DuckDB allows one
writing process, so while hem dev runs, the query goes to it (with the dev
key, <dir>/dev-key); otherwise hem opens the file read-only.

QUERY is one read-only statement (SELECT, DESCRIBE, SHOW, SUMMARIZE,
EXPLAIN). It may read the archive's Parquet files (<dir>/gcs/hem-archive)
and no other file. NaN and infinities come as "NaN", "Infinity" and
"-Infinity".

Encrypted fields (pii PII_HANDLING_ENCRYPT*) hold ciphertext; the function
hem_decrypt(field, subject_field, subject, value) decrypts a string one with
the local keys (<dir>/keys), or production's with --field-keys and
--field-kek, NULL for an erased data subject:

  hem sql "select channel, count(*) from shop_orders_v1_order_placed group by 1"
  hem sql --format csv "select * from _failed_events"
  hem sql "select type, count(*) from read_parquet('.hem/gcs/hem-archive/events/*/*/*/*.parquet', hive_partitioning=true) group by 1"
  hem sql "select member_id, hem_decrypt('shop.members.v1.MemberProfileUpdated.phone', 'member_id', member_id, phone) from shop_members_v1_member_profile_updated"`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) != 1 {
				return errors.New(`sql: give one query, e.g. hem sql "select count(*) from shop_orders_v1_order_placed"`)
			}
			return runSQL(ctx, io, cfg, args[0])
		},
	}
}

func runSQL(ctx context.Context, io IO, cfg sqlConfig, query string) error {
	res, err := sqlQuery(ctx, cfg, query)
	if err != nil {
		return err
	}
	switch cfg.Format {
	case "table":
		return printTable(io.Stdout, res)
	case "csv":
		return printCSV(io.Stdout, res)
	case "json":
		return printJSON(io.Stdout, res)
	}
	return fmt.Errorf("sql: --format %q: choose table, csv or json", cfg.Format)
}

func sqlQuery(ctx context.Context, cfg sqlConfig, query string) (*duckdb.Result, error) {
	info, err := loadDevInfo(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if info != nil && info.HTTP != "" && cfg.Warehouse == "" {
		key := info.APIKey
		if key == "" {
			b, err := os.ReadFile(filepath.Join(devDir(cfg.Dir), "dev-key"))
			if err != nil {
				return nil, fmt.Errorf("sql: the dev key: %w", err)
			}
			key = strings.TrimSpace(string(b))
		}
		res, err := remoteQuery(ctx, info.HTTP, key, query)
		if err == nil || !errors.Is(err, errUnreachable) {
			return res, err
		}
		// dev.json is stale (hem dev was killed): open the file.
	}
	path := cfg.Warehouse
	if path == "" {
		path = filepath.Join(devDir(cfg.Dir), "warehouse.duckdb")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sql: no warehouse at %s: run hem dev first (or give --warehouse)", path)
	}
	// The same sandbox as hem dev's, so a query means the same either way.
	var keys *fieldcrypt.Keyring
	if fkc := cfg.FieldKeys.config(false); fkc.Set() {
		fk, err := wiring.OpenFieldKeys(ctx, fkc)
		if err != nil {
			return nil, fmt.Errorf("sql: %w", err)
		}
		defer fk.Close()
		keys = fk.Keyring
	} else if keys, err = wiring.LocalFieldKeys(devDir(cfg.Dir), false); err != nil {
		return nil, fmt.Errorf("sql: %w", err)
	}
	w, err := duckdb.Open(ctx, path, duckdb.ReadOnly(), duckdb.WithSandbox(devstack.ArchiveDir(devDir(cfg.Dir))),
		duckdb.WithScalarFunc(wiring.DecryptFuncName, wiring.DecryptFunc(keys)))
	if err != nil {
		return nil, fmt.Errorf("sql: %w", err)
	}
	defer w.Close(ctx)
	return w.Query(ctx, query)
}

var errUnreachable = errors.New("hem dev is not answering")

func remoteQuery(ctx context.Context, addr, key, query string) (*duckdb.Result, error) {
	body, _ := json.Marshal(map[string]string{"query": query})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/sql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreachable, err)
	}
	defer resp.Body.Close()
	var out struct {
		duckdb.Result
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("sql: bad answer from hem dev (%s): %w", resp.Status, err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("sql: %s", out.Error)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sql: hem dev answered %s", resp.Status)
	}
	return &out.Result, nil
}

func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case string:
		return v
	case map[string]any, []any:
		b, _ := json.Marshal(v)
		return string(b)
	case float64:
		if v == float64(int64(v)) && v < 1e15 && v > -1e15 {
			return fmt.Sprint(int64(v))
		}
	}
	return fmt.Sprint(v)
}

func printTable(w io.Writer, res *duckdb.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
	for _, row := range res.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = strings.ReplaceAll(cell(v), "\t", " ")
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "(%d rows)\n", len(res.Rows))
	return err
}

func printCSV(w io.Writer, res *duckdb.Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(res.Columns); err != nil {
		return err
	}
	for _, row := range res.Rows {
		rec := make([]string, len(row))
		for i, v := range row {
			if v != nil {
				rec[i] = cell(v)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func printJSON(w io.Writer, res *duckdb.Result) error {
	out := make([]map[string]any, len(res.Rows))
	for i, row := range res.Rows {
		obj := make(map[string]any, len(row))
		for j, v := range row {
			obj[res.Columns[j]] = v
		}
		out[i] = obj
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
