package cli_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/internal/devstack"
)

// catalogue writes a gzipped export of the product-catalogue sample source
// (';', Latin-1) to dir/name: rows lines, the first bad of them with a
// 12-digit EAN, which the contract refuses.
func catalogue(t *testing.T, dir, name string, rows, bad int) string {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("article_no;brand;designation;category;price;ean;chilled;weight_kg;listed_on\n")
	for i := range rows {
		ean := fmt.Sprintf("41%011d", i)
		if i < bad {
			ean = ean[:12]
		}
		fmt.Fprintf(&csv, "B-%05d;Nord;K\xe4se %d;Molkerei;%d,99;%s;J;0,5;2026-10-%02d\n", i, i, 1+i%9, ean, 1+i%28)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(csv.String()))
	_ = zw.Close()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func hem(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = cli.Run(t.Context(), cli.IO{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}, args)
	return out.String(), errOut.String(), err
}

// entry is the JSON of a ledger entry as hem load and hem source status
// print it.
type entry struct {
	Source   string `json:"source"`
	URI      string `json:"uri"`
	Status   string `json:"status"`
	Records  string `json:"records"`
	Accepted string `json:"accepted"`
	Rejected string `json:"rejected"`
	Reason   string `json:"reason"`
}

func entries(t *testing.T, out string) []entry {
	t.Helper()
	var es []entry
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		es = append(es, e)
	}
	return es
}

// TestLoadAndStatusAgainstHemDev: hem load finds the running hem dev,
// loads a local file once (a second load changes nothing and says so; the
// file edited loads again),
// exits 1 on a quarantined file, and hem source status lists both.
func TestLoadAndStatusAgainstHemDev(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := devstack.Start(t.Context(), devstack.Config{Dir: dir, ProtoDir: "../../proto", SourcesDir: "../../sources", Sinks: []string{"duckdb", "failed"},
		PubSubAddr: "127.0.0.1:0", GCSAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", CollectorAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.WithoutCancel(t.Context())) })
	info, _ := json.Marshal(map[string]any{"registry": st.RegistryAddr, "collector": st.CollectorAddr, "pubsub": st.PubSubAddr,
		"gcs": st.GCSAddr, "project": devstack.Project, "api_key": st.APIKey, "http": st.HTTPAddr})
	if err := os.WriteFile(filepath.Join(dir, "dev.json"), info, 0o600); err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	good := catalogue(t, files, "good.csv.gz", 50, 2)
	common := []string{"--dir", dir, "--sources", "../../sources", "--source", "product-catalogue", "--format", "json"}

	out, errOut, err := hem(t, append([]string{"load", good}, common...)...)
	if err != nil {
		t.Fatalf("hem load: %v\n%s", err, errOut)
	}
	e := entries(t, out)
	want := entry{Source: "product-catalogue", URI: "file://" + good, Status: "STATUS_LOADED", Records: "50", Accepted: "48", Rejected: "2"}
	if len(e) != 1 || e[0] != want {
		t.Fatalf("hem load printed %+v, want %+v\n%s", e, want, errOut)
	}
	if !strings.Contains(errOut, "records/s") {
		t.Errorf("no rate on standard error: %q", errOut)
	}

	out, errOut, err = hem(t, append([]string{"load", good}, common...)...)
	if err != nil || len(entries(t, out)) != 1 || entries(t, out)[0] != want || !strings.Contains(errOut, "already done") {
		t.Fatalf("second hem load: %v %q %q", err, out, errOut)
	}
	// The file edited in place is another generation: it loads.
	catalogue(t, files, "good.csv.gz", 60, 0)
	out, errOut, err = hem(t, append([]string{"load", good}, common...)...)
	if e := entries(t, out); err != nil || len(e) != 1 || e[0].Status != "STATUS_LOADED" || e[0].Records != "60" {
		t.Fatalf("hem load of the edited file: %v %+v\n%s", err, e, errOut)
	}

	bad := catalogue(t, files, "bad.csv.gz", 10, 3) // 30 %: over the 5 % the declaration allows
	out, errOut, err = hem(t, append([]string{"load", bad}, common...)...)
	if code, ok := cli.ExitCode(err); !ok || code != 1 {
		t.Fatalf("hem load of a quarantined file: %v, want exit 1\n%s", err, errOut)
	}
	if e := entries(t, out); len(e) != 1 || e[0].Status != "STATUS_QUARANTINED" || e[0].Reason == "" {
		t.Fatalf("hem load of a quarantined file printed %+v", e)
	}

	out, _, err = hem(t, "source", "status", "product-catalogue", "--dir", dir)
	if err != nil || !strings.Contains(out, "LOADED") || !strings.Contains(out, "QUARANTINED") || !strings.Contains(out, "file://"+good) {
		t.Fatalf("hem source status: %v\n%s", err, out)
	}
	out, _, err = hem(t, "source", "status", "stock-count", "--dir", dir)
	if err != nil || !strings.Contains(out, "no objects") {
		t.Fatalf("hem source status stock-count: %v\n%s", err, out)
	}
}

func TestLoadRejectsBadArguments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"load"}, "want one"},
		{[]string{"load", "a.csv", "b.csv"}, "want one"},
		{[]string{"load", "a.csv", "--format", "yaml"}, "--format"},
		{[]string{"load", "a.csv", "--source", "x", "--dir", dir, "--sources", "../../sources"}, "--project is required"},
		{[]string{"load", "a.csv", "--project", "p", "--pii-salt", "0123456789abcdef", "--sources", "../../sources"}, "--ledger-bucket"},
		{[]string{"source", "status", "--format", "xml"}, "--format"},
		{[]string{"source", "status", "--project", "p"}, "--ledger-bucket"},
		{[]string{"source", "run", "--loads", "0"}, "--loads"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			_, _, err := hem(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}
