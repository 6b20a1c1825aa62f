package cli

import (
	"flag"
	"io"
	"testing"
)

// TestConsoleMonitoringProjectDefault: the Live page reads Cloud
// Monitoring in the BigQuery project unless --monitoring-project names
// another, and nowhere when neither is set.
func TestConsoleMonitoringProjectDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"neither", nil, ""},
		{"bigquery project", []string{"--bigquery-project", "hem-data", "--bigquery-dataset", "events"}, "hem-data"},
		{"its own", []string{"--bigquery-project", "hem-data", "--bigquery-dataset", "events", "--monitoring-project", "hem-ops"}, "hem-ops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cfg consoleServeConfig
			fs := flag.NewFlagSet("console serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.bind(fs)
			if err := fs.Parse(append([]string{"--auth", "key", "--api-key", "k"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			if err := cfg.resolve(); err != nil {
				t.Fatal(err)
			}
			if got := cfg.Console.Monitoring.Project; got != tt.want {
				t.Fatalf("monitoring project %q, want %q", got, tt.want)
			}
		})
	}
}
