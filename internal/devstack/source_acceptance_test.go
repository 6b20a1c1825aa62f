package devstack_test

// Issue 14's acceptance, as a user sees it: files of the sample sources
// (source/sample, as "hem source sample" writes them) loaded with "hem
// load" into a running hem dev, and what the warehouse shows afterwards.
// hem dev's inbox is tested in source_test.go.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/source/sample"
)

// hemEnv makes the test binary run as hem: the kill -9 test runs "hem load"
// as a process of its own.
const hemEnv = "HEM_DEVSTACK_TEST_RUN_HEM"

func TestMain(m *testing.M) {
	if os.Getenv(hemEnv) == "1" {
		if err := cli.Run(context.Background(), cli.StdIO(), os.Args[1:]); err != nil {
			if code, ok := cli.ExitCode(err); ok {
				os.Exit(code)
			}
			fmt.Fprintln(os.Stderr, "hem:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const productTable = "shop_products_v1_product_created"

// acceptanceStack is a hem dev with the sample sources, and the dev.json
// through which "hem load" finds it.
type acceptanceStack struct {
	*devstack.Stack
	dir string
	gcs *storage.Client
}

func startAcceptance(t *testing.T) *acceptanceStack {
	t.Helper()
	dir := t.TempDir()
	st := startWith(t, devstack.Config{Dir: dir, ProtoDir: "../../proto", SourcesDir: "../../sources", Sinks: []string{"duckdb", "failed"}})
	t.Cleanup(func() { _ = st.Close(context.WithoutCancel(t.Context())) })
	if st.SourcesErr != nil {
		t.Fatal(st.SourcesErr)
	}
	info, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "registry": st.RegistryAddr, "collector": st.CollectorAddr, "pubsub": st.PubSubAddr,
		"gcs": st.GCSAddr, "project": devstack.Project, "api_key": st.APIKey, "http": st.HTTPAddr})
	if err := os.WriteFile(filepath.Join(dir, "dev.json"), info, 0o600); err != nil {
		t.Fatal(err)
	}
	gcs, err := storage.NewClient(t.Context(), option.WithEndpoint("http://"+st.GCSAddr+"/storage/v1/"), option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gcs.Close() })
	return &acceptanceStack{Stack: st, dir: dir, gcs: gcs}
}

// ledgerEntry is the JSON of a ledger entry as "hem load --format json"
// prints it.
type ledgerEntry struct {
	URI        string `json:"uri"`
	Generation string `json:"generation"`
	Status     string `json:"status"`
	Records    string `json:"records"`
	Accepted   string `json:"accepted"`
	Rejected   string `json:"rejected"`
	Checkpoint string `json:"checkpoint"`
	Attempts   int    `json:"attempts"`
	Reason     string `json:"reason"`
}

// load runs "hem load target --source name" in-process against the stack.
func (s *acceptanceStack) load(t *testing.T, target, name string, extra ...string) (ledgerEntry, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"load", target, "--source", name, "--dir", s.dir, "--sources", "../../sources", "--format", "json", "--progress", "0"}, extra...)
	err := cli.Run(t.Context(), cli.IO{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}, args)
	var e ledgerEntry
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &e); jerr != nil {
			t.Fatalf("hem load printed %q: %v", out.String(), jerr)
		}
	}
	if err != nil {
		return e, fmt.Errorf("%w\n%s", err, errOut.String())
	}
	return e, nil
}

// upload writes data to gs://hem-landing/name (a new generation each time).
func (s *acceptanceStack) upload(t *testing.T, name string, data []byte) {
	t.Helper()
	w := s.gcs.Bucket("hem-landing").Object(name).NewWriter(t.Context())
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// count is "select what from table", 0 while the table does not exist.
func (s *acceptanceStack) count(t *testing.T, what, table string) int {
	t.Helper()
	if len(sql(t, s.Stack, "select table_name from information_schema.tables where table_name = '"+table+"'")) == 0 {
		return 0
	}
	return int(sql(t, s.Stack, "select "+what+" from "+table)[0][0].(float64))
}

// settled waits until f returns the same value for three seconds running
// (the processors have written what there was to write) and returns it.
func settled[T comparable](t *testing.T, within time.Duration, f func() T) T {
	t.Helper()
	deadline := time.Now().Add(within)
	last, since := f(), time.Now()
	for time.Since(since) < 3*time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("still changing after %s: %v", within, last)
		}
		time.Sleep(200 * time.Millisecond)
		if v := f(); v != last {
			last, since = v, time.Now()
		}
	}
	return last
}

// catalogue is the product-catalogue sample export of the day before
// (within the collector's event-time window), and its invalid records.
func catalogue(t *testing.T, rows int, invalid float64, opts ...sample.Option) ([]byte, []sample.Invalid) {
	t.Helper()
	var b bytes.Buffer
	var bad []sample.Invalid
	opts = append([]sample.Option{sample.WithDate(time.Now().UTC().AddDate(0, 0, -1)), sample.WithInvalidRecords(func(i sample.Invalid) { bad = append(bad, i) })}, opts...)
	if err := sample.Write(&b, "product-catalogue", rows, invalid, 14, opts...); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), bad
}

// TestAcceptanceLoadedTwiceAndCorrected: the same gzipped file loaded twice
// (the same object again, then a new generation of the same bytes) adds no
// row; a new generation with corrected keyed rows adds their new versions,
// and <table>_latest shows the corrections.
func TestAcceptanceLoadedTwiceAndCorrected(t *testing.T) {
	t.Parallel()
	s := startAcceptance(t)
	const rows = 300
	day1, _ := catalogue(t, rows, 0)
	const object = "catalogue/day1.csv.gz"
	target := "gs://hem-landing/" + object
	total := func() [2]int {
		return [2]int{s.count(t, "count(*)", productTable), s.count(t, "count(distinct _event_id)", productTable)}
	}

	s.upload(t, object, day1)
	if e, err := s.load(t, target, "product-catalogue"); err != nil || e.Status != "STATUS_LOADED" || e.Accepted != fmt.Sprint(rows) {
		t.Fatalf("first load: %+v %v", e, err)
	}
	waitUntil(t, 60*time.Second, "the rows", func() bool { return total()[0] == rows })

	// The same object again: the ledger says done.
	if e, err := s.load(t, target, "product-catalogue"); err != nil || e.Status != "STATUS_LOADED" {
		t.Fatalf("second load of the same object: %+v %v", e, err)
	}
	// The same bytes as a new generation: loaded, the same event ids.
	s.upload(t, object, day1)
	if e, err := s.load(t, target, "product-catalogue"); err != nil || e.Status != "STATUS_LOADED" || e.Generation == "" {
		t.Fatalf("load of a new generation with the same bytes: %+v %v", e, err)
	}
	if got := settled(t, 60*time.Second, total); got != [2]int{rows, rows} {
		t.Fatalf("after loading the same file twice: %d rows, %d distinct ids; want %d of each", got[0], got[1], rows)
	}

	// A corrected re-export: every tenth record's price changed.
	day1b, _ := catalogue(t, rows, 0, sample.WithRevision(1))
	s.upload(t, object, day1b)
	if e, err := s.load(t, target, "product-catalogue"); err != nil || e.Status != "STATUS_LOADED" {
		t.Fatalf("load of the corrected generation: %+v %v", e, err)
	}
	corrected := rows / 10
	if got := settled(t, 60*time.Second, total); got != [2]int{rows + corrected, rows + corrected} {
		t.Fatalf("after the corrections: %d rows, %d distinct ids; want %d of each", got[0], got[1], rows+corrected)
	}
	want := prices(t, day1b)
	latest := sql(t, s.Stack, "select sku, price.amount_micros from "+productTable+"_latest order by sku")
	if len(latest) != rows {
		t.Fatalf("%s_latest has %d rows, want %d", productTable, len(latest), rows)
	}
	for _, r := range latest {
		if sku, p := r[0].(string), int64(r[1].(float64)); p != want[sku] {
			t.Errorf("%s_latest: %s costs %d, want the corrected %d", productTable, sku, p, want[sku])
		}
	}
}

// prices reads a gzipped catalogue's price per SKU, in micros, as the
// declaration maps them.
func prices(t *testing.T, gz []byte) map[string]int64 {
	t.Helper()
	plain := gunzip(t, gz)
	out := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(plain)), "\n")[1:] {
		f := strings.Split(line, ";")
		var euros, cents int64
		if _, err := fmt.Sscanf(f[4], "%d,%d", &euros, &cents); err != nil {
			t.Fatal(err)
		}
		out[f[0]] = euros*1_000_000 + cents*10_000
	}
	return out
}

func gunzip(t *testing.T, gz []byte) []byte {
	t.Helper()
	z, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAcceptanceBadLines: a file with 3 bad lines adds exactly 3 rows to
// _failed_events, each naming the object, the line, the rule id and the
// field path, and every good line lands; a file with 30 % bad lines is
// quarantined: no row, one summary FailedEvent.
func TestAcceptanceBadLines(t *testing.T) {
	t.Parallel()
	s := startAcceptance(t)
	files := t.TempDir()

	const rows = 400
	data, bad := catalogue(t, rows, 0.0075)
	if len(bad) != 3 {
		t.Fatalf("%d bad lines, want 3", len(bad))
	}
	path := filepath.Join(files, "three-bad.csv.gz")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := s.load(t, path, "product-catalogue")
	if err != nil || e.Status != "STATUS_LOADED" || e.Accepted != fmt.Sprint(rows-3) || e.Rejected != "3" {
		t.Fatalf("load: %+v %v", e, err)
	}
	uri := "file://" + path
	got := settled(t, 60*time.Second, func() string {
		return fmt.Sprint(s.count(t, "count(*)", productTable), s.count(t, "count(*)", "_failed_events"))
	})
	if got != fmt.Sprint(rows-3, 3) {
		t.Fatalf("rows and failed events: %s, want %d 3", got, rows-3)
	}
	failed := sql(t, s.Stack, `select origin.uri, origin.line, violations[1].rule_id, violations[1].field_path from _failed_events order by origin.line`)
	var want, have []string
	for _, b := range bad {
		want = append(want, fmt.Sprintf("%s line %d: %s %s", uri, b.Line, b.Rule, b.Field))
	}
	for _, r := range failed {
		have = append(have, fmt.Sprintf("%v line %d: %v %v", r[0], int64(r[1].(float64)), r[2], r[3]))
	}
	if !slices.Equal(have, want) {
		t.Errorf("_failed_events:\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}

	// 30 %: over the declaration's 5 %.
	data, _ = catalogue(t, 100, 0.3)
	path = filepath.Join(files, "thirty-percent.csv.gz")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err = s.load(t, path, "product-catalogue")
	if code, ok := cli.ExitCode(err); !ok || code != 1 || e.Status != "STATUS_QUARANTINED" || e.Reason == "" {
		t.Fatalf("load of a 30 %% bad file: %+v %v, want quarantined and exit 1", e, err)
	}
	got = settled(t, 60*time.Second, func() string {
		return fmt.Sprint(s.count(t, "count(*)", productTable), s.count(t, "count(*)", "_failed_events"))
	})
	if got != fmt.Sprint(rows-3, 4) {
		t.Fatalf("after the quarantined file: rows and failed events %s, want %d 4", got, rows-3)
	}
	summary := sql(t, s.Stack, `select reason, origin.uri, origin.line from _failed_events where origin.uri = 'file://`+path+`'`)
	if len(summary) != 1 || summary[0][0] != "REASON_FILE_QUARANTINED" {
		t.Errorf("the quarantined file's failed events: %v, want one REASON_FILE_QUARANTINED", summary)
	}
}

// TestAcceptanceKill9: "hem load" killed with SIGKILL about half-way
// through a large file, then run again: every record is in the warehouse
// exactly once (count and distinct ids).
func TestAcceptanceKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a large file twice")
	}
	t.Parallel()
	s := startAcceptance(t)
	const rows = 200_000
	data, bad := catalogue(t, rows, 0.001)
	path := filepath.Join(t.TempDir(), "large.csv.gz")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"load", path, "--source", "product-catalogue", "--dir", s.dir, "--sources", "../../sources", "--format", "json",
		"--lease", "6s", "--progress", "0"}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), hemEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Kill it once the ledger's checkpoint says pass 2 is about half-way.
	status := func() ledgerEntry {
		var out bytes.Buffer
		_ = cli.Run(t.Context(), cli.IO{Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }},
			[]string{"source", "status", "product-catalogue", "--dir", s.dir, "--format", "json"})
		var e ledgerEntry
		_ = json.Unmarshal(bytes.TrimSpace(out.Bytes()), &e)
		return e
	}
	var at ledgerEntry
	waitUntil(t, 5*time.Minute, "a checkpoint", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("hem load ended before it was killed (%v; last ledger entry %+v): make the file larger\n%s", err, at, stderr.String())
		default:
		}
		at = status()
		n, _ := strconv.Atoi(at.Checkpoint)
		return n >= rows*2/5
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if at.Status != "STATUS_LOADING" {
		t.Fatalf("the load had ended (%+v) before it was killed: make the file larger", at)
	}
	t.Logf("killed at checkpoint %s of %d", at.Checkpoint, rows)

	// Again: it takes the object over once the dead loader's lease ends,
	// and resumes after the checkpoint.
	var e ledgerEntry
	waitUntil(t, 5*time.Minute, "the restarted load", func() bool {
		var err error
		e, err = s.load(t, path, "product-catalogue", "--lease", "6s")
		return err == nil && e.Status == "STATUS_LOADED"
	})
	good := rows - len(bad)
	if e.Accepted != fmt.Sprint(good) || e.Attempts != 2 {
		t.Errorf("the ledger says %s accepted in %d attempts, want %d in 2", e.Accepted, e.Attempts, good)
	}
	counts := func() [3]int {
		return [3]int{s.count(t, "count(*)", productTable), s.count(t, "count(distinct _event_id)", productTable),
			s.count(t, "count(distinct _event_id)", "_failed_events")}
	}
	// The processors may pause longer than settled's quiet window on a
	// loaded machine: first wait for every row (or the deadline), then make
	// sure no more arrive.
	deadline := time.Now().Add(5 * time.Minute)
	for c := counts(); c[0] < good && time.Now().Before(deadline); c = counts() {
		time.Sleep(500 * time.Millisecond)
	}
	got := settled(t, 5*time.Minute, counts)
	if got != [3]int{good, good, len(bad)} {
		t.Fatalf("after kill -9 and a restart: %d rows, %d distinct ids, %d failed events; want %d, %d, %d", got[0], got[1], got[2], good, good, len(bad))
	}
}
