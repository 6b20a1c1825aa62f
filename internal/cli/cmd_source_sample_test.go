package cli_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/source/sample"
)

func hemSourceSample(t *testing.T, stdout io.Writer, args ...string) (stderr string, err error) {
	t.Helper()
	var errOut bytes.Buffer
	err = cli.Run(t.Context(), cli.IO{Stdout: stdout, Stderr: &errOut, Getenv: func(string) string { return "" }}, append([]string{"source", "sample"}, args...))
	return errOut.String(), err
}

// TestSourceSampleWritesTheFile: the command writes what the generator
// writes, gzipped as the declaration says, and names the invalid lines.
func TestSourceSampleWritesTheFile(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	stderr, err := hemSourceSample(t, &out, "product-catalogue", "--rows", "10", "--invalid", "0.3", "--seed", "3", "--date", "2026-12-01")
	if err != nil {
		t.Fatal(err, stderr)
	}
	var want bytes.Buffer
	if err := sample.Write(&want, "product-catalogue", 10, 0.3, 3, sample.WithDate(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Error("hem source sample wrote another file than sample.Write")
	}
	z, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(plain, []byte("\n")); n != 11 {
		t.Errorf("%d lines, want a header and 10 records", n)
	}
	if !strings.HasPrefix(stderr, "product-catalogue: 10 records, 3 breaking a rule: line ") || strings.Count(stderr, "line ") != 3 {
		t.Errorf("stderr %q, want the 3 invalid lines", stderr)
	}
}

func TestSourceSampleRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "want one NAME"},
		{[]string{"nope"}, "unknown sample source"},
		{[]string{"stock-count", "--invalid", "2"}, "not within 0..1"},
		{[]string{"stock-count", "--date", "7.12.2026"}, "--date"},
	} {
		if _, err := hemSourceSample(t, io.Discard, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestSourceSampleSparesATerminal: compressed bytes are not written to a
// terminal unless asked; plain text is.
func TestSourceSampleSparesATerminal(t *testing.T) {
	t.Parallel()
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skip("no pseudo-terminal:", err)
	}
	defer tty.Close()
	if _, err := hemSourceSample(t, tty, "stock-count", "--rows", "1"); err == nil || !strings.Contains(err.Error(), "terminal") {
		t.Errorf("zip to a terminal: %v, want a refusal", err)
	}
	for _, args := range [][]string{{"--uncompressed"}, {"--force"}} {
		if _, err := hemSourceSample(t, tty, append([]string{"stock-count", "--rows", "1"}, args...)...); err != nil {
			t.Errorf("%v to a terminal: %v", args, err)
		}
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if _, err := hemSourceSample(t, null, "stock-count", "--rows", "1"); err != nil {
		t.Errorf("zip to %s: %v", os.DevNull, err)
	}
}

func TestSourceSampleHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if _, err := hemSourceSample(t, &out, "--help"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--rows", "--invalid", "--seed", "--revision", "--uncompressed", "product-catalogue"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
