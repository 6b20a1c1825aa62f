package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/hemlabs/hem/sink/bigquery"
)

// openBigQuery opens the BigQuery sink of a command's --bigquery-* flags.
// The endpoints (HEM_BIGQUERY_ENDPOINT, HEM_BIGQUERY_WRITE_ENDPOINT) point
// it at a BigQuery-API-compatible server instead of Google's.
func openBigQuery(ctx context.Context, project, dataset, endpoint, writeEndpoint string) (*bigquery.Sink, error) {
	if project == "" || dataset == "" {
		return nil, errors.New("BigQuery needs --bigquery-project (or --project) and --bigquery-dataset")
	}
	s, err := bigquery.New(ctx, bigquery.Config{Project: project, Dataset: dataset, Endpoint: endpoint, WriteEndpoint: writeEndpoint})
	if err != nil {
		return nil, fmt.Errorf("open BigQuery %s.%s: %w", project, dataset, err)
	}
	return s, nil
}
