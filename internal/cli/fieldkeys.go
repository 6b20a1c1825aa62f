package cli

import (
	"flag"

	"github.com/hemlabs/hem/internal/wiring"
)

// fieldKeyringFlags name production's field keys (terraform outputs
// field_kek_uri, field_keys_table and the registry bucket's keys/ prefix):
// the commands that read or write keysets take them; without them they
// use hem dev's local keys (or, for the collector, none).
type fieldKeyringFlags struct {
	KEK              string
	Store            string
	Table            string
	KMSEndpoint      string
	BigQueryEndpoint string
}

// bind binds the flags; table adds --field-keys-table (commands whose
// keyset writes or deletes reach the keys table).
func (f *fieldKeyringFlags) bind(fs *flag.FlagSet, table bool) {
	fs.StringVar(&f.KEK, "field-kek", "", "Cloud KMS key wrapping the field keysets (gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K); with --field-keys")
	fs.StringVar(&f.Store, "field-keys", "", "where the wrapped field keysets live: gs://BUCKET/PREFIX (STORAGE_EMULATOR_HOST is honoured); with --field-kek")
	fs.StringVar(&f.KMSEndpoint, "kms-endpoint", "", "Cloud KMS gRPC endpoint of a KMS-API-compatible server (plaintext host:port, no credentials)")
	if table {
		fs.StringVar(&f.Table, "field-keys-table", "", "BigQuery keys table (project.dataset.table) the <table>_decrypted views join: keysets are copied there and erased there")
		fs.StringVar(&f.BigQueryEndpoint, "bigquery-endpoint", "", "BigQuery REST endpoint of a BigQuery-API-compatible server (http:// means no credentials)")
	}
}

func (f *fieldKeyringFlags) config(create bool) wiring.FieldKeysConfig {
	return wiring.FieldKeysConfig{KEK: f.KEK, Store: f.Store, Table: f.Table, KMSEndpoint: f.KMSEndpoint,
		BigQueryEndpoint: f.BigQueryEndpoint, Create: create}
}
