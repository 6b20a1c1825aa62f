package cli

import (
	"flag"
	"io"
	"reflect"
	"testing"

	"github.com/hemlabs/hem/internal/wiring"
)

// TestProcessorFlagsDefaultToWiring: without flags, hem processor run runs
// wiring's production configuration of its sink (the one hem dev starts
// from); a flag changes only its own setting.
func TestProcessorFlagsDefaultToWiring(t *testing.T) {
	for _, name := range wiring.SinkNames() {
		t.Run(name, func(t *testing.T) {
			var cfg processorConfig
			fs := flag.NewFlagSet("processor run", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.bind(fs)
			if err := fs.Parse([]string{"--sink", name}); err != nil {
				t.Fatal(err)
			}
			if got, want := cfg.processor(), wiring.DefaultProcessorConfig(name); !reflect.DeepEqual(got, want) {
				t.Fatalf("flags' defaults: %+v\nwiring's: %+v", got, want)
			}
			if err := fs.Parse([]string{"--sink", name, "--batch-age", "3s"}); err != nil {
				t.Fatal(err)
			}
			got, want := cfg.processor(), wiring.DefaultProcessorConfig(name)
			want.Batch.Age = 3e9
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("--batch-age 3s: %+v\nwant: %+v", got, want)
			}
		})
	}
}

// TestCollectorFlagsDefaultToWiring: the same for hem collector serve.
func TestCollectorFlagsDefaultToWiring(t *testing.T) {
	var cfg collectorServeConfig
	fs := flag.NewFlagSet("collector serve", flag.ContinueOnError)
	cfg.bind(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if want := wiring.DefaultCollectorConfig(); !reflect.DeepEqual(cfg.Collector, want) {
		t.Fatalf("flags' defaults: %+v\nwiring's: %+v", cfg.Collector, want)
	}
}
