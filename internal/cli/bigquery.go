package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/hemlabs/hem/sink/bigquery"
)

// bigQueryWriteFlags are the processor's settings for the Storage Write
// API; the defaults are the sink's.
type bigQueryWriteFlags struct {
	Multiplex       bool
	MaxRequestBytes int
	WriteTimeout    time.Duration
}

func (f *bigQueryWriteFlags) bind(fs *flag.FlagSet) {
	fs.BoolVar(&f.Multiplex, "bigquery-multiplex", true,
		"share Storage Write connections between tables (BigQuery does; turn off for a BigQuery-API server that reads a connection's requests with its first writer schema)")
	fs.IntVar(&f.MaxRequestBytes, "bigquery-max-request-bytes", 9<<20,
		"largest AppendRows request; BigQuery takes 10 MB. A request refused as too large is split in halves, so set a smaller server's limit here to save the round trips")
	fs.DurationVar(&f.WriteTimeout, "bigquery-write-timeout", 30*time.Second,
		"longest a batch waits for BigQuery's answer before it is nacked (an unreachable BigQuery fails writes within seconds anyway)")
}

func (f *bigQueryWriteFlags) validate() error {
	if f.MaxRequestBytes < 64<<10 || f.MaxRequestBytes > 10<<20 {
		return fmt.Errorf("--bigquery-max-request-bytes %d: want between 64 KiB and 10 MiB", f.MaxRequestBytes)
	}
	if f.WriteTimeout <= 0 {
		return errors.New("--bigquery-write-timeout must be positive")
	}
	return nil
}

// config is the sink configuration of the flags.
func (f *bigQueryWriteFlags) config(project, dataset, endpoint, writeEndpoint string, log *slog.Logger) bigquery.Config {
	return bigquery.Config{Project: project, Dataset: dataset, Endpoint: endpoint, WriteEndpoint: writeEndpoint,
		DisableMultiplexing: !f.Multiplex, MaxRequestBytes: f.MaxRequestBytes, WriteTimeout: f.WriteTimeout, Logger: log}
}

// fieldKeysFlags name the keys table and the KEK that the <table>_decrypted
// views of tables with encrypted fields use (terraform's outputs
// field_keys_table and field_kek_uri); without them there are no such views.
type fieldKeysFlags struct {
	Table string
	KEK   string
}

func (f *fieldKeysFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.Table, "field-keys-table", "", "BigQuery table of wrapped field keysets (project.dataset.table), for the <table>_decrypted views; needs --field-kek")
	fs.StringVar(&f.KEK, "field-kek", "", "Cloud KMS key wrapping the field keysets (gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K), for the <table>_decrypted views")
}

func (f *fieldKeysFlags) validate() error {
	if (f.Table == "") != (f.KEK == "") {
		return errors.New("--field-keys-table and --field-kek go together")
	}
	return nil
}

// config is nil without the flags.
func (f *fieldKeysFlags) config() *bigquery.FieldKeys {
	if f.Table == "" {
		return nil
	}
	return &bigquery.FieldKeys{Table: f.Table, KEK: f.KEK}
}
