package cli

import (
	"flag"
	"testing"
)

// HEM_BIGQUERY_MULTIPLEX=false (or --bigquery-multiplex=false) turns the
// sink's multiplexing off; the default keeps it on.
func TestBigQueryMultiplexSetting(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		disable bool
	}{
		{"default", nil, nil, false},
		{"flag", []string{"--bigquery-multiplex=false"}, nil, true},
		{"env", nil, map[string]string{"HEM_BIGQUERY_MULTIPLEX": "false"}, true},
		{"flag wins", []string{"--bigquery-multiplex=true"}, map[string]string{"HEM_BIGQUERY_MULTIPLEX": "false"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f bigQueryWriteFlags
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			f.bind(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(fs, func(k string) string { return tt.env[k] }); err != nil {
				t.Fatal(err)
			}
			if got := f.config("p", "d", "", "", nil).DisableMultiplexing; got != tt.disable {
				t.Fatalf("DisableMultiplexing = %v, want %v", got, tt.disable)
			}
		})
	}
}
